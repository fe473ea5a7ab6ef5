//! Access decisions that combine an account's policy with the licence.
//!
//! Protocol front ends ask here whether an account may use a service and get
//! a decision together with a one-line explanation for people (the admin view,
//! logs), naming where the deciding setting came from.

use crate::directory::Directory;
use crate::license::{Feature, LicenseRefusal, Licensing, SeatState};
use crate::model::AccountId;
use crate::settings::Effective;

/// Whether `account` may use ActiveSync now, and why.
///
/// The decision is taken in two steps:
///
/// 1. **Policy.** The account's effective `activesync.enabled` setting is
///    resolved through `directory`. If it is off, access is refused with
///    `disabled: <provenance>`, e.g. `disabled: server default`.
/// 2. **Licence.** Otherwise the account's standing for
///    [`Feature::ActiveSync`] is read with [`Licensing::seat_state`]: access is
///    granted if the account holds a seat, would get one, or the feature is not
///    seat-limited; it is refused (with the [`LicenseRefusal`] as reason) if
///    there is no valid licence, the edition lacks ActiveSync, or no seat is
///    free for it.
///
/// Nothing is acquired: no seat is taken here, that happens only in
/// [`Licensing::authorize`] when the account actually connects. If the
/// settings cannot be resolved or the seat ledger cannot be read, access is
/// refused and the reason says so.
pub async fn activesync_access<D>(directory: &D, licensing: &Licensing, account: AccountId) -> (bool, String)
where
    D: Directory + ?Sized,
{
    let effective = match directory.effective_settings(account).await {
        Ok(e) => e,
        Err(e) => {
            return (false, format!("refused: cannot resolve the account's settings: {e}"));
        }
    };
    if !effective.activesync_enabled.value {
        return (false, format!("disabled: {}", effective.activesync_enabled.source));
    }
    match licensing.seat_state(account, Feature::ActiveSync).await {
        Ok(seat) => describe_activesync(&effective.activesync_enabled, &seat),
        Err(e) => (false, format!("refused: the licence seat ledger is unavailable: {e}")),
    }
}

/// Combines the ActiveSync policy of an account with its licence standing
/// into a decision and a one-line explanation.
fn describe_activesync(policy: &Effective<bool>, seat: &SeatState) -> (bool, String) {
    let source = &policy.source;
    if !policy.value {
        return (false, format!("disabled: {source}"));
    }
    match seat {
        SeatState::HoldsSeat { limit, position } => {
            (true, format!("enabled ({source}), seat {} of {limit}", position + 1))
        }
        SeatState::WouldBeGranted { limit: Some(limit), holders } => {
            (true, format!("enabled ({source}), a seat will be taken on first use ({holders} of {limit} in use)"))
        }
        SeatState::WouldBeGranted { limit: None, .. } => {
            (true, format!("enabled ({source}), the licence does not limit activesync seats"))
        }
        SeatState::Refused { refusal: refusal @ LicenseRefusal::NoFreeSeat { .. }, holds_seat: true } => (
            false,
            format!(
                "enabled ({source}) but refused: {refusal}; the account's seat is beyond the licence's current limit"
            ),
        ),
        SeatState::Refused { refusal, .. } => (false, format!("enabled ({source}) but refused: {refusal}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::Edition;
    use crate::settings::Provenance;

    fn policy(value: bool, source: Provenance) -> Effective<bool> {
        Effective { value, source }
    }

    #[test]
    fn reasons_name_the_policy_source_and_the_licence() {
        let on = policy(true, Provenance::Class("mobile".into()));
        let enabled = "enabled (inherited from class `mobile`)";
        assert_eq!(
            describe_activesync(&on, &SeatState::HoldsSeat { limit: 2, position: 0 }),
            (true, format!("{enabled}, seat 1 of 2"))
        );
        assert_eq!(
            describe_activesync(&on, &SeatState::WouldBeGranted { limit: Some(2), holders: 1 }),
            (true, format!("{enabled}, a seat will be taken on first use (1 of 2 in use)"))
        );
        assert_eq!(
            describe_activesync(&on, &SeatState::WouldBeGranted { limit: None, holders: 0 }),
            (true, format!("{enabled}, the licence does not limit activesync seats"))
        );
        let full = LicenseRefusal::NoFreeSeat { feature: Feature::ActiveSync, limit: 1 };
        assert_eq!(
            describe_activesync(&on, &SeatState::Refused { refusal: full.clone(), holds_seat: true }),
            (
                false,
                format!(
                    "{enabled} but refused: the only activesync seat of the licence is in use; \
                     the account's seat is beyond the licence's current limit"
                )
            )
        );
        assert_eq!(
            describe_activesync(&on, &SeatState::Refused { refusal: full, holds_seat: false }),
            (false, format!("{enabled} but refused: the only activesync seat of the licence is in use"))
        );
        let lacks = LicenseRefusal::EditionLacksFeature { edition: Edition::Office, feature: Feature::ActiveSync };
        assert_eq!(
            describe_activesync(&on, &SeatState::Refused { refusal: lacks, holds_seat: false }),
            (false, format!("{enabled} but refused: the office edition does not offer activesync"))
        );
        // The policy is decisive: a held seat does not enable a disabled account.
        let off = policy(false, Provenance::Default);
        assert_eq!(
            describe_activesync(&off, &SeatState::HoldsSeat { limit: 2, position: 0 }),
            (false, "disabled: server default".to_owned())
        );
    }
}
