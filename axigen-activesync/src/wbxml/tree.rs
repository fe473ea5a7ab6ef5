//! The element tree that the codec reads and writes.

use std::borrow::Cow;

use super::codepages::{CodePage, Tag};

/// A node of an element's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (an inline or string-table string).
    Text(String),
    /// Opaque binary data (MIME bodies, conversation ids, ...).
    Opaque(Vec<u8>),
}

/// An element: a tag and its content, in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// The tag (code page and token).
    pub tag: Tag,
    /// The content.
    pub children: Vec<Node>,
}

impl Element {
    /// An empty element called `name` on `page`.
    ///
    /// # Panics
    ///
    /// If `page` has no tag called `name`. Element names in server code are
    /// literals, so this is a programming error caught by any test that
    /// builds the element; use [`Element::try_new`] for names from input.
    #[track_caller]
    pub fn new(page: CodePage, name: &str) -> Element {
        match Element::try_new(page, name) {
            Some(element) => element,
            None => panic!("code page {page} has no tag named {name:?}"),
        }
    }

    /// An empty element called `name` on `page`, if the page has that tag.
    pub fn try_new(page: CodePage, name: &str) -> Option<Element> {
        Tag::named(page, name).map(Element::from_tag)
    }

    /// An empty element with this tag.
    pub fn from_tag(tag: Tag) -> Element {
        Element { tag, children: Vec::new() }
    }

    /// The code page of the element.
    pub fn page(&self) -> CodePage {
        self.tag.page()
    }

    /// The element name.
    pub fn name(&self) -> &'static str {
        self.tag.name()
    }

    /// Whether the element is `name` on `page`.
    pub fn is(&self, page: CodePage, name: &str) -> bool {
        self.tag.page() == page && self.tag.name() == name
    }

    /// Builder: appends a child element.
    pub fn with(mut self, child: Element) -> Element {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: appends character data.
    pub fn with_text(mut self, text: impl Into<String>) -> Element {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Builder: appends opaque data.
    pub fn with_opaque(mut self, data: impl Into<Vec<u8>>) -> Element {
        self.children.push(Node::Opaque(data.into()));
        self
    }

    /// Builder: appends `<name>text</name>` on the same page as `self`.
    ///
    /// # Panics
    ///
    /// As [`Element::new`], if the page has no tag called `name`.
    #[track_caller]
    pub fn with_text_child(self, name: &str, text: impl Into<String>) -> Element {
        let page = self.page();
        self.with(Element::new(page, name).with_text(text))
    }

    /// Appends a child element.
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(element) => Some(element),
            _ => None,
        })
    }

    /// The first child element called `name` on `page`.
    pub fn child(&self, page: CodePage, name: &str) -> Option<&Element> {
        self.elements().find(|element| element.is(page, name))
    }

    /// The first child element called `name` on the same page as `self`.
    pub fn child_here(&self, name: &str) -> Option<&Element> {
        self.child(self.page(), name)
    }

    /// Every child element called `name` on `page`.
    pub fn children_named<'a>(&'a self, page: CodePage, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |element| element.is(page, name))
    }

    /// The character data of the element: `None` if it contains an element
    /// or opaque data, the (possibly empty) concatenated text otherwise.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self.children.as_slice() {
            [] => Some(Cow::Borrowed("")),
            [Node::Text(text)] => Some(Cow::Borrowed(text)),
            nodes => {
                let mut joined = String::new();
                for node in nodes {
                    match node {
                        Node::Text(text) => joined.push_str(text),
                        _ => return None,
                    }
                }
                Some(Cow::Owned(joined))
            }
        }
    }

    /// The text of the first child `name` on `page` (see [`Element::text`]).
    pub fn child_text(&self, page: CodePage, name: &str) -> Option<Cow<'_, str>> {
        self.child(page, name).and_then(Element::text)
    }

    /// The opaque data of the element, if its content is exactly one
    /// opaque datum.
    pub fn opaque(&self) -> Option<&[u8]> {
        match self.children.as_slice() {
            [Node::Opaque(data)] => Some(data),
            _ => None,
        }
    }
}
