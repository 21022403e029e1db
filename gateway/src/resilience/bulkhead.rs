//! Bulkheads: a lock-free count of requests in progress against a cap shared out by priority
//! (`optional` is shed first, then `normal`; `critical` may use the whole cap), and a second count
//! of connection attempts under way. The cap and shares are passed in on every call, so a
//! bulkhead kept across config reloads always obeys the current settings.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use weir_config::{LoadShedding, Priority};

/// The fractions of a cap that `normal` and `optional` requests may fill (`[load_shedding]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares {
    /// `normal_share`, in `(0.0, 1.0]`.
    pub normal: f64,
    /// `optional_share`, in `(0.0, normal]`.
    pub optional: f64,
}

impl Shares {
    /// No reservation: every class may fill the whole cap.
    pub const NONE_RESERVED: Shares = Shares {
        normal: 1.0,
        optional: 1.0,
    };
}

impl From<&LoadShedding> for Shares {
    fn from(settings: &LoadShedding) -> Self {
        Self {
            normal: settings.normal_share,
            optional: settings.optional_share,
        }
    }
}

/// How many requests of `class` may be in progress under `cap`: `floor(share × cap)` for
/// `optional` and `normal`, `cap` for `critical`.
///
/// Rounding: the product is rounded down (a share never lets a class past its fraction), after
/// forgiving binary floating-point error (`0.29 × 100` is `28.999999999999996` and means 29). Each
/// ceiling is at least 1 when `cap ≥ 1`, so a tiny cap still admits something; a class's ceiling
/// is never above the next class's, so `optional` is always shed no later than `normal`. A cap of
/// 0 admits nothing.
pub fn ceiling(cap: u32, class: Priority, shares: &Shares) -> u32 {
    match class {
        Priority::Critical => cap,
        Priority::Normal => share_of(cap, shares.normal),
        Priority::Optional => share_of(cap, shares.optional).min(share_of(cap, shares.normal)),
    }
}

/// `floor(share × cap)`, kept within `1..=cap` (0 when `cap` is 0).
fn share_of(cap: u32, share: f64) -> u32 {
    // Caps are at most 10^7, where the product's error is ~10^-9: 10^-6 absorbs it without
    // rounding up any share a config could spell.
    const FLOAT_ERROR: f64 = 1e-6;
    let scaled = (share * f64::from(cap) + FLOAT_ERROR).floor();
    // `as` saturates, and turns NaN into 0, so the clamp below keeps any input in range.
    (scaled as u32).clamp(cap.min(1), cap)
}

/// Why a bulkhead refused: for the shed response's log line and metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `in_use` requests were in progress, and this request's class may only enter below
    /// `ceiling`.
    InFlight { in_use: u32, ceiling: u32 },
    /// `in_use` connection attempts were under way, at or above `cap`.
    PendingConnects { in_use: u32, cap: u32 },
}

impl Full {
    /// The metric label: `in_flight` or `pending_connects`.
    pub fn label(self) -> &'static str {
        match self {
            Full::InFlight { .. } => "in_flight",
            Full::PendingConnects { .. } => "pending_connects",
        }
    }
}

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Full::InFlight { in_use, ceiling } => {
                write!(f, "{in_use} requests in flight, ceiling {ceiling}")
            }
            Full::PendingConnects { in_use, cap } => {
                write!(f, "{in_use} connection attempts pending, cap {cap}")
            }
        }
    }
}

/// Requests in progress and connection attempts under way, for one scope (the whole gateway or
/// one upstream). Holds counts only: caps and shares come with each call.
#[derive(Debug, Default)]
pub struct Bulkhead {
    in_flight: AtomicU32,
    pending_connects: AtomicU32,
}

impl Bulkhead {
    /// An empty bulkhead.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a slot for a request of `class` if fewer than `ceiling(cap, class, shares)` are in
    /// progress. The slot is given back when the [`Permit`] drops. Never admits past the ceiling,
    /// however many threads race.
    pub fn try_enter(
        self: &Arc<Self>,
        cap: u32,
        class: Priority,
        shares: &Shares,
    ) -> Result<Permit, Full> {
        let ceiling = ceiling(cap, class, shares);
        match take_slot(&self.in_flight, ceiling) {
            Ok(()) => Ok(Permit {
                bulkhead: Arc::clone(self),
            }),
            Err(in_use) => Err(Full::InFlight { in_use, ceiling }),
        }
    }

    /// Takes a slot for one connection attempt if fewer than `cap` are under way. Attempts are
    /// not shared out by priority: they belong to requests already admitted.
    pub fn try_connect(self: &Arc<Self>, cap: u32) -> Result<ConnectPermit, Full> {
        match take_slot(&self.pending_connects, cap) {
            Ok(()) => Ok(ConnectPermit {
                bulkhead: Arc::clone(self),
            }),
            Err(in_use) => Err(Full::PendingConnects { in_use, cap }),
        }
    }

    /// Requests in progress now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Connection attempts under way now.
    pub fn pending_connects(&self) -> u32 {
        self.pending_connects.load(Ordering::Relaxed)
    }
}

/// Adds one to `counter` if it is below `ceiling`; otherwise returns the count seen.
///
/// Compare-and-swap rather than add-then-undo: an undone add would briefly count a request that
/// never entered and could turn away a `critical` one racing with it. `Relaxed` suffices: the
/// count guards no other memory, and every update to one atomic is seen in a single order, so
/// no two racers can both take the last slot.
fn take_slot(counter: &AtomicU32, ceiling: u32) -> Result<(), u32> {
    let mut in_use = counter.load(Ordering::Relaxed);
    loop {
        if in_use >= ceiling {
            return Err(in_use);
        }
        match counter.compare_exchange_weak(
            in_use,
            in_use + 1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Ok(()),
            Err(seen) => in_use = seen,
        }
    }
}

/// One request's slot in a [`Bulkhead`], given back on drop.
#[derive(Debug)]
#[must_use = "the slot is given back as soon as the permit drops"]
pub struct Permit {
    bulkhead: Arc<Bulkhead>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.bulkhead.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection attempt's slot in a [`Bulkhead`], given back on drop.
#[derive(Debug)]
#[must_use = "the slot is given back as soon as the permit drops"]
pub struct ConnectPermit {
    bulkhead: Arc<Bulkhead>,
}

impl Drop for ConnectPermit {
    fn drop(&mut self) {
        self.bulkhead
            .pending_connects
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    const SHARES: Shares = Shares {
        normal: 0.9,
        optional: 0.8,
    };

    fn fill(bulkhead: &Arc<Bulkhead>, n: u32, cap: u32, class: Priority) -> Vec<Permit> {
        (0..n)
            .map(|_| bulkhead.try_enter(cap, class, &SHARES).unwrap())
            .collect()
    }

    #[test]
    fn ceilings_are_the_floor_of_each_share() {
        assert_eq!(ceiling(100, Priority::Critical, &SHARES), 100);
        assert_eq!(ceiling(100, Priority::Normal, &SHARES), 90);
        assert_eq!(ceiling(100, Priority::Optional, &SHARES), 80);
        // 0.9 × 15 = 13.5 and 0.8 × 15 = 12: rounded down.
        assert_eq!(ceiling(15, Priority::Normal, &SHARES), 13);
        assert_eq!(ceiling(15, Priority::Optional, &SHARES), 12);
        assert_eq!(ceiling(10_000, Priority::Normal, &SHARES), 9_000);
        assert_eq!(ceiling(10_000_000, Priority::Optional, &SHARES), 8_000_000);
    }

    #[test]
    fn binary_float_error_does_not_lose_a_slot() {
        // 0.29 × 100 is 28.999999999999996 in f64.
        let shares = Shares {
            normal: 0.29,
            optional: 0.07,
        };
        assert_eq!(ceiling(100, Priority::Normal, &shares), 29);
        assert_eq!(ceiling(100, Priority::Optional, &shares), 7);
        let shares = Shares {
            normal: 0.57,
            optional: 0.57,
        };
        assert_eq!(ceiling(100, Priority::Normal, &shares), 57);
    }

    #[test]
    fn tiny_caps_admit_at_least_one_of_every_class() {
        for class in Priority::ALL {
            assert_eq!(ceiling(1, class, &SHARES), 1, "{class}");
        }
        assert_eq!(ceiling(2, Priority::Critical, &SHARES), 2);
        assert_eq!(ceiling(2, Priority::Normal, &SHARES), 1);
        assert_eq!(ceiling(2, Priority::Optional, &SHARES), 1);
        let stingy = Shares {
            normal: 0.01,
            optional: 0.001,
        };
        assert_eq!(ceiling(10, Priority::Optional, &stingy), 1);
    }

    #[test]
    fn a_zero_cap_admits_nothing() {
        for class in Priority::ALL {
            assert_eq!(ceiling(0, class, &SHARES), 0, "{class}");
        }
        let bulkhead = Arc::new(Bulkhead::new());
        assert!(bulkhead.try_enter(0, Priority::Critical, &SHARES).is_err());
        assert!(bulkhead.try_connect(0).is_err());
    }

    #[test]
    fn ceilings_never_exceed_the_cap_nor_the_next_class() {
        let odd = Shares {
            normal: 0.5,
            optional: 0.9, // validation forbids this; the ceiling still keeps the order
        };
        let wild = Shares {
            normal: f64::NAN,
            optional: 7.0,
        };
        for cap in [1, 2, 3, 7, 10, 99, 1000] {
            for shares in [SHARES, odd, wild, Shares::NONE_RESERVED] {
                let [optional, normal, critical] = Priority::ALL.map(|c| ceiling(cap, c, &shares));
                assert!(1 <= optional && optional <= normal, "{cap} {shares:?}");
                assert!(normal <= critical && critical == cap, "{cap} {shares:?}");
            }
        }
    }

    #[test]
    fn shares_come_from_load_shedding() {
        let settings = LoadShedding {
            normal_share: 0.75,
            optional_share: 0.5,
            ..LoadShedding::default()
        };
        assert_eq!(
            Shares::from(&settings),
            Shares {
                normal: 0.75,
                optional: 0.5
            }
        );
    }

    #[test]
    fn optional_is_shed_first_then_normal_and_critical_fills_the_cap() {
        let bulkhead = Arc::new(Bulkhead::new());
        let mut held = fill(&bulkhead, 8, 10, Priority::Optional);
        assert_eq!(
            bulkhead
                .try_enter(10, Priority::Optional, &SHARES)
                .unwrap_err(),
            Full::InFlight {
                in_use: 8,
                ceiling: 8
            }
        );
        held.push(bulkhead.try_enter(10, Priority::Normal, &SHARES).unwrap());
        assert_eq!(
            bulkhead
                .try_enter(10, Priority::Normal, &SHARES)
                .unwrap_err(),
            Full::InFlight {
                in_use: 9,
                ceiling: 9
            }
        );
        held.push(bulkhead.try_enter(10, Priority::Critical, &SHARES).unwrap());
        assert_eq!(
            bulkhead
                .try_enter(10, Priority::Critical, &SHARES)
                .unwrap_err(),
            Full::InFlight {
                in_use: 10,
                ceiling: 10
            }
        );
        assert_eq!(bulkhead.in_flight(), 10);
    }

    #[test]
    fn permits_give_their_slot_back_on_drop() {
        let bulkhead = Arc::new(Bulkhead::new());
        let held = fill(&bulkhead, 10, 10, Priority::Critical);
        assert!(bulkhead.try_enter(10, Priority::Critical, &SHARES).is_err());
        drop(held);
        assert_eq!(bulkhead.in_flight(), 0);
        let again = bulkhead.try_enter(10, Priority::Optional, &SHARES).unwrap();
        assert_eq!(bulkhead.in_flight(), 1);
        drop(again);
        assert_eq!(bulkhead.in_flight(), 0);
    }

    #[test]
    fn connect_attempts_have_their_own_cap() {
        let bulkhead = Arc::new(Bulkhead::new());
        let first = bulkhead.try_connect(2).unwrap();
        let _second = bulkhead.try_connect(2).unwrap();
        assert_eq!(
            bulkhead.try_connect(2).unwrap_err(),
            Full::PendingConnects { in_use: 2, cap: 2 }
        );
        // Requests in flight are counted apart.
        let _request = bulkhead.try_enter(1, Priority::Optional, &SHARES).unwrap();
        assert_eq!(bulkhead.pending_connects(), 2);
        assert_eq!(bulkhead.in_flight(), 1);
        drop(first);
        assert_eq!(bulkhead.pending_connects(), 1);
        assert!(bulkhead.try_connect(2).is_ok());
    }

    #[test]
    fn a_lowered_cap_admits_nothing_until_use_falls_below_it() {
        let bulkhead = Arc::new(Bulkhead::new());
        let mut held = fill(&bulkhead, 100, 100, Priority::Critical);
        // Reload: the cap drops from 100 to 10. Nothing already in flight is cut off.
        for class in Priority::ALL {
            assert!(bulkhead.try_enter(10, class, &SHARES).is_err(), "{class}");
        }
        held.truncate(10);
        assert!(bulkhead.try_enter(10, Priority::Critical, &SHARES).is_err());
        held.truncate(9);
        assert!(bulkhead.try_enter(10, Priority::Normal, &SHARES).is_err());
        held.push(bulkhead.try_enter(10, Priority::Critical, &SHARES).unwrap());
        assert_eq!(bulkhead.in_flight(), 10);
    }

    #[test]
    fn racing_threads_never_exceed_the_cap() {
        const CAP: u32 = 16;
        let bulkhead = Arc::new(Bulkhead::new());
        let most_seen = AtomicU32::new(0);
        let workers_done = AtomicBool::new(false);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|thread| {
                    let (bulkhead, most_seen) = (&bulkhead, &most_seen);
                    s.spawn(move || {
                        let class = Priority::ALL[thread % 3];
                        let mut held = Vec::new();
                        for attempt in 1..=20_000 {
                            if let Ok(permit) = bulkhead.try_enter(CAP, class, &SHARES) {
                                held.push(permit);
                                most_seen.fetch_max(bulkhead.in_flight(), Ordering::Relaxed);
                            }
                            // Hold up to 20 at once, so even a thread running alone meets its
                            // ceiling.
                            if attempt % 20 == 0 {
                                held.clear();
                            }
                        }
                    })
                })
                .collect();
            // A watcher sampling the count from outside catches an overshoot too.
            s.spawn(|| {
                while !workers_done.load(Ordering::Relaxed) {
                    most_seen.fetch_max(bulkhead.in_flight(), Ordering::Relaxed);
                }
            });
            for worker in workers {
                worker.join().unwrap();
            }
            workers_done.store(true, Ordering::Relaxed);
        });
        assert_eq!(most_seen.load(Ordering::Relaxed), CAP);
        assert_eq!(bulkhead.in_flight(), 0);
    }

    #[test]
    fn permits_can_live_in_a_request_context() {
        fn request_scoped<T: Send + Sync + 'static>() {}
        request_scoped::<Permit>();
        request_scoped::<ConnectPermit>();
        request_scoped::<Arc<Bulkhead>>();
    }
}
