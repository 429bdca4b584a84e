//! The monitor's client-side budget of status writes (a token bucket, as
//! client-go's QPS and burst).

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The monitor's client-side budget of status writes: a token bucket of `qps`
/// writes a second with `burst` more, as client-go's QPS and burst. Writes a
/// reader needs wait for a token. Refreshes take one only if it is free now and
/// only from half the rate, so that a steady stream of refreshes always leaves
/// room for condition changes and violations.
pub struct WriteBudget {
    all: Option<DefaultDirectRateLimiter>,
    refresh: Option<DefaultDirectRateLimiter>,
}

impl WriteBudget {
    /// A budget of `qps` writes a second (0: unlimited) and a burst of `burst`.
    pub fn new(qps: u32, burst: u32) -> WriteBudget {
        let limiter = |qps: u32, burst: u32| {
            NonZeroU32::new(qps).map(|qps| {
                let burst = NonZeroU32::new(burst).unwrap_or(qps);
                RateLimiter::direct(Quota::per_second(qps).allow_burst(burst))
            })
        };
        WriteBudget {
            all: limiter(qps, burst),
            refresh: (qps > 0)
                .then(|| limiter((qps / 2).max(1), (burst / 2).max(1)))
                .flatten(),
        }
    }

    /// Takes a write a reader needs from the budget if one is free now.
    pub fn try_write(&self) -> bool {
        self.all.as_ref().is_none_or(|l| l.check().is_ok())
    }

    /// Takes a refresh from the budget if one is free now.
    pub fn try_refresh(&self) -> bool {
        self.refresh.as_ref().is_none_or(|l| l.check().is_ok())
            && self.all.as_ref().is_none_or(|l| l.check().is_ok())
    }
}
