//! Built-in processing filters (seed 3.2.2): per-account size limits, match
//! rules that file, reject or discard, and a hook for external scanners
//! (antivirus / antispam) run as a command with a timeout.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axigen_core::delivery::{DeliveryFilter, FilterError, Incoming, RecipientVerdict, Refusal, Verdict};
use axigen_core::directory::Directory;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pending(v: &Verdict) -> bool {
    matches!(v, Verdict::Deliver { .. } | Verdict::Relay)
}

/// Refuses the message for every local recipient whose effective
/// `limits.max_message_size` it exceeds (552 5.3.4, RFC 3463).
pub struct SizeLimitFilter {
    directory: Arc<dyn Directory>,
}

impl SizeLimitFilter {
    /// Reads each recipient's limit from `directory`.
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        SizeLimitFilter { directory }
    }
}

#[async_trait]
impl DeliveryFilter for SizeLimitFilter {
    fn name(&self) -> &str {
        "size-limit"
    }

    async fn apply(&self, message: &Incoming<'_>, recipients: &mut [RecipientVerdict]) -> Result<(), FilterError> {
        for r in recipients.iter_mut().filter(|r| pending(&r.verdict)) {
            let Some(account) = r.account else { continue };
            let limit = self
                .directory
                .effective_settings(account)
                .await
                .map_err(|e| FilterError(e.to_string()))?
                .max_message_size
                .value;
            if limit > 0 && message.summary.size > limit {
                r.verdict = Verdict::Reject(Refusal {
                    code: 552,
                    enhanced: (5, 3, 4),
                    text: format!(
                        "message size {} exceeds the recipient's limit of {limit} bytes",
                        message.summary.size
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// File into `folder` of the recipient's account.
    File,
    /// Refuse (554 5.7.1 with `text`).
    Reject,
    /// Accept and drop.
    Discard,
}

/// One processing rule (`[[processing.rule]]` in the server configuration):
/// exactly one of `header`, `envelope_from`, `recipient` says what to search
/// for `contains` (case-insensitive); `action` says what to do.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Name, for logs.
    pub name: String,
    /// A header name whose decoded values are searched.
    #[serde(default)]
    pub header: Option<String>,
    /// Search the envelope sender.
    #[serde(default)]
    pub envelope_from: bool,
    /// Search the recipient address (the rule then acts per recipient).
    #[serde(default)]
    pub recipient: bool,
    /// Substring to find.
    pub contains: String,
    /// What to do.
    pub action: RuleAction,
    /// For `file`: the folder, `/`-separated.
    #[serde(default)]
    pub folder: Option<String>,
    /// For `reject`: the reply text.
    #[serde(default)]
    pub text: Option<String>,
}

/// Applies [`Rule`]s in order; the first matching rule decides for a recipient.
pub struct RulesFilter {
    rules: Vec<Rule>,
}

impl RulesFilter {
    /// A filter over these rules, checked for consistency.
    pub fn new(rules: Vec<Rule>) -> Result<Self, String> {
        for r in &rules {
            let n = usize::from(r.header.is_some()) + usize::from(r.envelope_from) + usize::from(r.recipient);
            if n != 1 {
                return Err(format!("rule {:?}: give exactly one of header, envelope_from, recipient", r.name));
            }
            if r.contains.is_empty() {
                return Err(format!("rule {:?}: `contains` may not be empty", r.name));
            }
            if r.action == RuleAction::File && r.folder.as_deref().is_none_or(str::is_empty) {
                return Err(format!("rule {:?}: action `file` needs `folder`", r.name));
            }
        }
        Ok(RulesFilter { rules })
    }

    fn matches(rule: &Rule, message: &Incoming<'_>, recipient: &str) -> bool {
        let needle = rule.contains.to_lowercase();
        let found = |hay: &str| hay.to_lowercase().contains(&needle);
        if let Some(h) = &rule.header {
            return message.summary.header(h).any(found);
        }
        if rule.envelope_from {
            return message.envelope_from.is_some_and(found);
        }
        found(recipient)
    }
}

#[async_trait]
impl DeliveryFilter for RulesFilter {
    fn name(&self) -> &str {
        "rules"
    }

    async fn apply(&self, message: &Incoming<'_>, recipients: &mut [RecipientVerdict]) -> Result<(), FilterError> {
        for r in recipients.iter_mut().filter(|r| pending(&r.verdict)) {
            let Some(rule) = self.rules.iter().find(|rule| Self::matches(rule, message, &r.address)) else { continue };
            tracing::debug!(rule = %rule.name, recipient = %r.address, "processing rule matched");
            r.verdict = match rule.action {
                RuleAction::File if r.account.is_some() => {
                    Verdict::Deliver { folder: rule.folder.clone().unwrap_or_else(|| "INBOX".into()) }
                }
                RuleAction::File => continue, // remote recipients have no folders
                RuleAction::Reject => Verdict::Reject(Refusal {
                    code: 554,
                    enhanced: (5, 7, 1),
                    text: rule.text.clone().unwrap_or_else(|| format!("refused by rule {}", rule.name)),
                }),
                RuleAction::Discard => Verdict::Discard,
            };
        }
        Ok(())
    }
}

/// Configuration of an external scanner (`[[processing.scanner]]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Name, for logs and replies.
    pub name: String,
    /// Program to run; it reads the message on standard input.
    pub command: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Seconds to wait for a verdict.
    #[serde(default = "default_scan_timeout")]
    pub timeout_secs: u64,
    /// Accept mail when the scanner fails or times out (`true`), or defer it
    /// with a temporary error (`false`, the default).
    #[serde(default)]
    pub fail_open: bool,
}

fn default_scan_timeout() -> u64 {
    30
}

/// Runs an external program on each message: exit status 0 means clean, 1
/// means refuse (its first output line is the reason), anything else, a
/// crash or a timeout is a scanner failure handled by `fail_open`. This is
/// the calling convention of `clamdscan -` and of most spam-filter wrappers.
pub struct CommandScanner {
    config: ScannerConfig,
}

impl CommandScanner {
    /// A scanner hook from its configuration.
    pub fn new(config: ScannerConfig) -> Self {
        CommandScanner { config }
    }

    async fn run(&self, raw: &[u8]) -> Result<(i32, String), String> {
        let mut child = tokio::process::Command::new(&self.config.command)
            .args(&self.config.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.config.command.display()))?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let mut stdout = child.stdout.take().ok_or("no stdout")?;
        let data = raw.to_vec();
        // Write and read concurrently so a scanner that answers early cannot deadlock us.
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
        });
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).await.map_err(|e| format!("reading the scanner's output: {e}"))?;
        let _ = writer.await;
        let status = child.wait().await.map_err(|e| format!("waiting for the scanner: {e}"))?;
        let first_line = String::from_utf8_lossy(&out).lines().next().unwrap_or("").trim().to_owned();
        match status.code() {
            Some(code) => Ok((code, first_line)),
            None => Err("the scanner was killed by a signal".into()),
        }
    }
}

#[async_trait]
impl DeliveryFilter for CommandScanner {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn fail_open(&self) -> bool {
        self.config.fail_open
    }

    async fn apply(&self, message: &Incoming<'_>, recipients: &mut [RecipientVerdict]) -> Result<(), FilterError> {
        if !recipients.iter().any(|r| pending(&r.verdict)) {
            return Ok(());
        }
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let (code, line) = match tokio::time::timeout(timeout, self.run(message.raw)).await {
            Err(_) => return Err(FilterError(format!("{} did not answer within {timeout:?}", self.config.name))),
            Ok(Err(e)) => return Err(FilterError(e)),
            Ok(Ok(v)) => v,
        };
        match code {
            0 => Ok(()),
            1 => {
                let text = if line.is_empty() { format!("message refused by {}", self.config.name) } else { line };
                for r in recipients.iter_mut().filter(|r| pending(&r.verdict)) {
                    r.verdict = Verdict::Reject(Refusal { code: 554, enhanced: (5, 7, 1), text: text.clone() });
                }
                Ok(())
            }
            other => Err(FilterError(format!("{} exited with status {other}", self.config.name))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axigen_core::delivery::MessageSummary;
    use axigen_core::model::AccountId;
    use bytes::Bytes;

    fn recipients() -> Vec<RecipientVerdict> {
        vec![
            RecipientVerdict {
                address: "a@example.com".into(),
                account: Some(AccountId(1)),
                verdict: Verdict::Deliver { folder: "INBOX".into() },
            },
            RecipientVerdict { address: "b@remote.example".into(), account: None, verdict: Verdict::Relay },
        ]
    }

    fn incoming<'a>(raw: &'a Bytes, summary: &'a MessageSummary) -> Incoming<'a> {
        Incoming { envelope_from: Some("news@lists.example"), peer: None, authenticated: None, raw, summary }
    }

    fn scanner(script: &str, timeout_secs: u64, fail_open: bool) -> CommandScanner {
        CommandScanner::new(ScannerConfig {
            name: "test-scanner".into(),
            command: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            timeout_secs,
            fail_open,
        })
    }

    #[tokio::test]
    async fn rules_file_reject_and_discard() {
        let raw = Bytes::from_static(b"List-Id: <weekly.lists.example>\r\n\r\nhi\r\n");
        let summary = MessageSummary { headers: vec![("List-Id".into(), "<weekly.lists.example>".into())], size: 40 };
        let rule = |name: &str, header: Option<&str>, envelope_from: bool, action: RuleAction| Rule {
            name: name.into(),
            header: header.map(Into::into),
            envelope_from,
            recipient: false,
            contains: if header.is_some() { "WEEKLY".into() } else { "lists.example".into() },
            action,
            folder: (action == RuleAction::File).then(|| "Lists/Weekly".into()),
            text: None,
        };
        let f = RulesFilter::new(vec![rule("file", Some("list-id"), false, RuleAction::File)]).unwrap();
        let mut r = recipients();
        f.apply(&incoming(&raw, &summary), &mut r).await.unwrap();
        assert_eq!(r[0].verdict, Verdict::Deliver { folder: "Lists/Weekly".into() });
        assert_eq!(r[1].verdict, Verdict::Relay, "remote recipients have no folders");

        let f = RulesFilter::new(vec![rule("junk", None, true, RuleAction::Discard)]).unwrap();
        let mut r = recipients();
        f.apply(&incoming(&raw, &summary), &mut r).await.unwrap();
        assert!(r.iter().all(|x| x.verdict == Verdict::Discard));

        let f = RulesFilter::new(vec![rule("no", None, true, RuleAction::Reject)]).unwrap();
        let mut r = recipients();
        f.apply(&incoming(&raw, &summary), &mut r).await.unwrap();
        assert!(matches!(&r[0].verdict, Verdict::Reject(x) if x.code == 554));

        let mut bad = rule("bad", Some("x"), true, RuleAction::Discard);
        assert!(RulesFilter::new(vec![bad.clone()]).is_err(), "two conditions");
        bad.envelope_from = false;
        bad.action = RuleAction::File;
        bad.folder = None;
        assert!(RulesFilter::new(vec![bad]).is_err(), "file without folder");
    }

    #[tokio::test]
    async fn scanner_verdicts_failures_and_timeouts() {
        let raw = Bytes::from_static(b"Subject: x\r\n\r\nX5O!P%@AP EICAR test\r\n");
        let summary = MessageSummary::default();
        let msg = incoming(&raw, &summary);

        let clean = scanner("cat >/dev/null; exit 0", 5, false);
        let mut r = recipients();
        clean.apply(&msg, &mut r).await.unwrap();
        assert_eq!(r, recipients());

        let infected = scanner("grep -q EICAR && { echo 'Eicar-Test-Signature FOUND'; exit 1; }; exit 0", 5, false);
        let mut r = recipients();
        infected.apply(&msg, &mut r).await.unwrap();
        for x in &r {
            assert!(matches!(&x.verdict, Verdict::Reject(f) if f.text == "Eicar-Test-Signature FOUND"), "{x:?}");
        }

        let broken = scanner("cat >/dev/null; exit 2", 5, true);
        assert!(broken.apply(&msg, &mut recipients()).await.is_err());
        assert!(broken.fail_open());

        let slow = scanner("sleep 10", 1, false);
        let started = std::time::Instant::now();
        let err = slow.apply(&msg, &mut recipients()).await.unwrap_err();
        assert!(err.0.contains("did not answer"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the timeout holds");

        let missing = CommandScanner::new(ScannerConfig {
            name: "gone".into(),
            command: "/nonexistent/scanner".into(),
            args: vec![],
            timeout_secs: 5,
            fail_open: false,
        });
        assert!(missing.apply(&msg, &mut recipients()).await.unwrap_err().0.contains("cannot start"));
    }
}
