//! One upstream's region as the policy tracks it: healthy → (bad evaluations counted) → drained
//! → (good evaluations counted) → ramping through the steps → healthy, or held by the operator.
//! Plain state and counts; the guards and the actions are decided by `upstream`.

use std::collections::VecDeque;
use std::time::SystemTime;

use super::verdict::{Judgement, Verdict};

/// Evaluations kept per region for the status.
pub const KEPT_EVALUATIONS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Watched: `drain_after` bad evaluations in a row drain it.
    Healthy,
    /// Drained by policy (weight 0); `operator_weight` is what it had, the ramp's 100%.
    Drained { operator_weight: u32 },
    /// Coming back: `step` is the index of the ramp step last applied.
    Ramping { operator_weight: u32, step: usize },
    /// Drained or weighted by hand: never touched by policy until the operator gives it a weight
    /// above 0 (and no drain remembers it) and it is seen good again.
    Operator,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Healthy => "healthy",
            State::Drained { .. } => "drained",
            State::Ramping { .. } => "ramping",
            State::Operator => "operator",
        }
    }

    /// Whether the policy holds weight back from the region (it counts against `max_drained`).
    pub fn by_policy(self) -> bool {
        matches!(self, State::Drained { .. } | State::Ramping { .. })
    }
}

/// One past evaluation, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub at: SystemTime,
    pub judgement: Judgement,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub state: State,
    pub bad_in_row: u32,
    pub good_in_row: u32,
    /// The weight the policy last set, while it holds the region (drained or ramping).
    pub policy_weight: Option<u32>,
    /// Why the last drain due was not made (a guard or a pause), until it is made.
    pub blocked: Option<String>,
    pub last: VecDeque<Evaluation>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            state: State::Healthy,
            bad_in_row: 0,
            good_in_row: 0,
            policy_weight: None,
            blocked: None,
            last: VecDeque::new(),
        }
    }
}

impl Machine {
    /// Hands the region to the operator when the config says they took it: a drain that
    /// remembers it, weight 0 the policy did not set, or (while the policy holds it) any weight
    /// other than the one it set. An operator's decision beats the policy's.
    pub fn reconcile(&mut self, weight: u32, operator_drained: bool) {
        let taken = match self.state {
            State::Healthy => operator_drained || weight == 0,
            State::Drained { .. } | State::Ramping { .. } => {
                operator_drained || self.policy_weight != Some(weight)
            }
            State::Operator => false,
        };
        if taken {
            self.hand_over(State::Operator);
        }
    }

    /// Counts one evaluation (no evidence changes no count) and keeps it for the status. An
    /// operator's region comes back under watch once it has a weight and is seen good.
    pub fn observe(
        &mut self,
        at: SystemTime,
        judgement: Judgement,
        weight: u32,
        operator_drained: bool,
    ) {
        match judgement.verdict {
            Verdict::Bad => {
                self.bad_in_row = self.bad_in_row.saturating_add(1);
                self.good_in_row = 0;
            }
            Verdict::Good => {
                self.good_in_row = self.good_in_row.saturating_add(1);
                self.bad_in_row = 0;
            }
            Verdict::NoEvidence => {}
        }
        if self.state == State::Operator
            && judgement.verdict == Verdict::Good
            && weight > 0
            && !operator_drained
        {
            self.hand_over(State::Healthy);
        }
        if self.last.len() == KEPT_EVALUATIONS {
            self.last.pop_front();
        }
        self.last.push_back(Evaluation { at, judgement });
    }

    /// The policy set the region to `weight`, now in `state`; counts start again.
    pub fn set(&mut self, state: State, weight: u32) {
        self.state = state;
        self.policy_weight = state.by_policy().then_some(weight);
        self.bad_in_row = 0;
        self.good_in_row = 0;
        self.blocked = None;
    }

    fn hand_over(&mut self, state: State) {
        self.state = state;
        self.policy_weight = None;
        self.bad_in_row = 0;
        self.good_in_row = 0;
        self.blocked = None;
    }

    /// The last verdict, if any evaluation was made.
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.last
            .back()
            .map(|evaluation| evaluation.judgement.verdict)
    }
}

/// The weight of ramp step `percent` of `operator_weight`: rounded up, at least 1, so every step
/// sends some traffic and 100% is exactly the operator's weight.
pub fn step_weight(operator_weight: u32, percent: u32) -> u32 {
    (operator_weight.saturating_mul(percent).div_ceil(100)).max(1)
}
