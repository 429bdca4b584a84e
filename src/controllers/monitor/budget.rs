//! The monitor's client-side budget of status writes (a token bucket, as
//! client-go's QPS and burst).

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The monitor's client-side budget of status writes: a token bucket of `qps`
/// writes a second with `burst` more, as client-go's QPS and burst. Writes a
/// reader needs wait for a token. Refreshes take one only if it is free now and
/// only from three quarters of the rate, so that a steady stream of refreshes
/// always leaves room for condition changes and violations (a quarter, and
/// the bucket's burst), while 10,000 policies are refreshed every 12 minutes
/// (see [`super::refresh`]).
pub struct WriteBudget {
    all: Option<DefaultDirectRateLimiter>,
    refresh: Option<DefaultDirectRateLimiter>,
    refresh_qps: u32,
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
        let refresh_qps = (qps * 3 / 4).max(1);
        WriteBudget {
            all: limiter(qps, burst),
            refresh: (qps > 0)
                .then(|| limiter(refresh_qps, (burst * 3 / 4).max(1)))
                .flatten(),
            refresh_qps,
        }
    }

    /// Refreshes a second the budget allows (`None`: unlimited).
    pub fn refresh_per_second(&self) -> Option<f64> {
        self.refresh.as_ref().map(|_| self.refresh_qps as f64)
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
