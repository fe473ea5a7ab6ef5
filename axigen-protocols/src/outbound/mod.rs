//! SMTP sending (seed 3.2.3): [`delivery`] drains the queue; [`schedule`] decides when a deferred message is tried again, when
//! its sender hears of the delay and when it is given up; the MX lookup is
//! [`crate::dns`], the notifications [`crate::dsn`], the queue
//! [`axigen_core::queue`].

pub mod delivery;
pub mod schedule;
mod tls;

pub use delivery::{DeliveryConfig, DeliveryService, SenderNotifier, SmartHost};
