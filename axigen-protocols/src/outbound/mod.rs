//! SMTP sending (seed 3.2.3): the pieces the delivery service is built
//! from. [`schedule`] decides when a deferred message is tried again, when
//! its sender hears of the delay and when it is given up; the MX lookup is
//! [`crate::dns`], the notifications [`crate::dsn`], the queue
//! [`axigen_core::queue`].

pub mod schedule;
