//! Account settings as the admin API receives them: a JSON map of setting
//! names to values. Never panics; what is accepted round-trips.
#![no_main]

use axigen_core::settings::{Overrides, SettingUpdate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = serde_json::from_slice::<Overrides>(data) {
        let text = serde_json::to_string(&o).expect("overrides serialise");
        let back: Overrides = serde_json::from_str(&text).expect("serialised overrides parse");
        assert_eq!(back, o);
    }
    if let Ok(map) = serde_json::from_slice::<std::collections::BTreeMap<String, SettingUpdate>>(data) {
        let mut o = Overrides::default();
        for (k, v) in map {
            let _ = o.set(&k, v.0);
        }
    }
});
