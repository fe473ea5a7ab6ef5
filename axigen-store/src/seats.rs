//! The licence seat ledger ([`SeatStore`]) in the `seat` column family.
//!
//! Key: feature name, NUL, account id. Value: a sequence number from a
//! store-wide counter, so holders can be listed in the order they acquired
//! their seats. Acquisition runs on the committer: checking the count and
//! taking the seat are one atomic step.

use async_trait::async_trait;
use axigen_core::Result;
use axigen_core::license::{Feature, SeatAcquire, SeatStore};
use axigen_core::model::AccountId;

use crate::Store;
use crate::keys::*;

fn holders(rows: &[Row], prefix_len: usize) -> Result<Vec<AccountId>> {
    let mut v =
        rows.iter().map(|(k, seq)| Ok((be64(seq)?, AccountId(be32(&k[prefix_len..])?)))).collect::<Result<Vec<_>>>()?;
    v.sort();
    Ok(v.into_iter().map(|(_, a)| a).collect())
}

#[async_trait]
impl SeatStore for Store {
    async fn acquire_seat(&self, feature: Feature, account: AccountId, limit: u32) -> Result<SeatAcquire> {
        self.committer
            .submit(0, move |ctx| {
                let key = seat_key(feature.as_str(), account);
                if ctx.get(CF_SEAT, &key)?.is_some() {
                    return Ok(SeatAcquire::AlreadyHeld);
                }
                let held = ctx.scan(CF_SEAT, &seat_prefix(feature.as_str()))?.len() as u32;
                if held >= limit {
                    return Ok(SeatAcquire::Full { holders: held });
                }
                let seq = match ctx.get(CF_META, META_NEXT_SEAT_SEQ)? {
                    Some(b) => be64(&b)?,
                    None => 1,
                };
                ctx.put(CF_META, META_NEXT_SEAT_SEQ, &(seq + 1).to_be_bytes())?;
                ctx.put(CF_SEAT, &key, &seq.to_be_bytes())?;
                Ok(SeatAcquire::Granted)
            })
            .await
    }

    async fn release_seat(&self, feature: Feature, account: AccountId) -> Result<bool> {
        self.committer
            .submit(0, move |ctx| {
                let key = seat_key(feature.as_str(), account);
                let held = ctx.get(CF_SEAT, &key)?.is_some();
                if held {
                    ctx.delete(CF_SEAT, &key)?;
                }
                Ok(held)
            })
            .await
    }

    async fn seat_holders(&self, feature: Feature) -> Result<Vec<AccountId>> {
        let prefix = seat_prefix(feature.as_str());
        holders(&self.scan(CF_SEAT, &prefix)?, prefix.len())
    }
}
