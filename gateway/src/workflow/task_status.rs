//! The FHIR R4 Task state machine, written down once: which moves exist and who may make them.

use std::fmt;

/// `Task.status` (http://hl7.org/fhir/task-status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Not yet actionable.
    Draft,
    /// Asked of the owner.
    Requested,
    /// The owner has it but has not decided.
    Received,
    /// The owner will do it.
    Accepted,
    /// The owner will not do it.
    Rejected,
    /// Ready to start.
    Ready,
    /// No longer wanted.
    Cancelled,
    /// Under way.
    InProgress,
    /// Paused.
    OnHold,
    /// Could not be done.
    Failed,
    /// Done.
    Completed,
    /// Should never have existed.
    EnteredInError,
}

/// Who is asking for a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The organisation that owns the Task (does the work).
    Owner,
    /// The organisation that asked for it.
    Requester,
    /// Anyone else (never allowed to move a Task).
    Other,
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The state machine has no such edge.
    #[error("a Task cannot move from \"{from}\" to \"{to}\"")]
    NoSuchTransition {
        /// Current status.
        from: TaskStatus,
        /// Requested status.
        to: TaskStatus,
    },
    /// The edge exists but belongs to the other party.
    #[error("only the Task's {needed} may move it from \"{from}\" to \"{to}\"")]
    WrongActor {
        /// Current status.
        from: TaskStatus,
        /// Requested status.
        to: TaskStatus,
        /// Who may.
        needed: &'static str,
    },
}

impl TaskStatus {
    const ALL: [TaskStatus; 12] = [
        Self::Draft,
        Self::Requested,
        Self::Received,
        Self::Accepted,
        Self::Rejected,
        Self::Ready,
        Self::Cancelled,
        Self::InProgress,
        Self::OnHold,
        Self::Failed,
        Self::Completed,
        Self::EnteredInError,
    ];

    /// The code as written in FHIR.
    pub fn code(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Requested => "requested",
            Self::Received => "received",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Ready => "ready",
            Self::Cancelled => "cancelled",
            Self::InProgress => "in-progress",
            Self::OnHold => "on-hold",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::EnteredInError => "entered-in-error",
        }
    }

    /// Parses a status code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// No further move is possible.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Rejected
                | Self::Cancelled
                | Self::Failed
                | Self::Completed
                | Self::EnteredInError
        )
    }

    /// Whether the owner may refer the patient onward: it has taken the referral on and not ended it.
    pub fn may_refer_onward(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::Ready | Self::InProgress | Self::OnHold
        )
    }

    /// The moves out of this status, with who may make each.
    fn edges(self) -> &'static [(TaskStatus, Actor)] {
        use Actor::{Owner, Requester};
        use TaskStatus::*;
        match self {
            Draft => &[
                (Requested, Requester),
                (Cancelled, Requester),
                (EnteredInError, Requester),
            ],
            Requested => &[
                (Received, Owner),
                (Accepted, Owner),
                (Rejected, Owner),
                (Cancelled, Requester),
                (EnteredInError, Requester),
            ],
            Received => &[(Accepted, Owner), (Rejected, Owner), (Cancelled, Requester)],
            Accepted => &[
                (Ready, Owner),
                (InProgress, Owner),
                (OnHold, Owner),
                (Failed, Owner),
                (Cancelled, Requester),
            ],
            Ready => &[(InProgress, Owner), (Failed, Owner), (Cancelled, Requester)],
            InProgress => &[
                (OnHold, Owner),
                (Completed, Owner),
                (Failed, Owner),
                (Cancelled, Requester),
            ],
            OnHold => &[(InProgress, Owner), (Failed, Owner), (Cancelled, Requester)],
            Rejected | Cancelled | Failed | Completed | EnteredInError => &[],
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether `actor` may move a Task from `from` to `to`. Staying put is not a move and is always allowed.
pub fn can_move(from: TaskStatus, to: TaskStatus, actor: Actor) -> Result<(), Refusal> {
    if from == to {
        return Ok(());
    }
    match from.edges().iter().find(|(target, _)| *target == to) {
        None => Err(Refusal::NoSuchTransition { from, to }),
        Some((_, who)) if *who == actor => Ok(()),
        Some((_, who)) => Err(Refusal::WrongActor {
            from,
            to,
            needed: if *who == Actor::Owner {
                "owner"
            } else {
                "requester"
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::*;
    use super::*;

    #[test]
    fn every_edge_is_allowed_for_its_actor_and_refused_for_the_others() {
        for from in TaskStatus::ALL {
            for (to, who) in from.edges() {
                assert_eq!(
                    can_move(from, *to, *who),
                    Ok(()),
                    "{from} -> {to} by {who:?}"
                );
                for other in [Actor::Owner, Actor::Requester, Actor::Other]
                    .into_iter()
                    .filter(|a| a != who)
                {
                    assert!(
                        matches!(can_move(from, *to, other), Err(Refusal::WrongActor { .. })),
                        "{from} -> {to} by {other:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn everything_not_listed_is_refused_whoever_asks() {
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL
                .into_iter()
                .filter(|to| *to != from && !from.edges().iter().any(|(t, _)| t == to))
            {
                for actor in [Actor::Owner, Actor::Requester] {
                    assert_eq!(
                        can_move(from, to, actor),
                        Err(Refusal::NoSuchTransition { from, to })
                    );
                }
            }
        }
    }

    #[test]
    fn the_referral_path_and_its_exits() {
        for (from, to, who) in [
            (Requested, Accepted, Actor::Owner),
            (Accepted, InProgress, Actor::Owner),
            (InProgress, Completed, Actor::Owner),
            (Requested, Rejected, Actor::Owner),
            (InProgress, Cancelled, Actor::Requester),
            (OnHold, InProgress, Actor::Owner),
        ] {
            assert_eq!(can_move(from, to, who), Ok(()), "{from} -> {to}");
        }
        assert!(matches!(
            can_move(Requested, Cancelled, Actor::Owner),
            Err(Refusal::WrongActor {
                needed: "requester",
                ..
            })
        ));
        assert!(matches!(
            can_move(Requested, Accepted, Actor::Requester),
            Err(Refusal::WrongActor {
                needed: "owner",
                ..
            })
        ));
        assert_eq!(
            can_move(Completed, InProgress, Actor::Owner),
            Err(Refusal::NoSuchTransition {
                from: Completed,
                to: InProgress
            })
        );
        assert_eq!(
            can_move(Requested, Completed, Actor::Owner),
            Err(Refusal::NoSuchTransition {
                from: Requested,
                to: Completed
            })
        );
    }

    #[test]
    fn terminal_statuses_have_no_way_out() {
        for s in TaskStatus::ALL {
            assert_eq!(s.is_terminal(), s.edges().is_empty(), "{s}");
        }
    }

    #[test]
    fn codes_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(s.code()), Some(s));
        }
        assert_eq!(TaskStatus::parse("done"), None);
    }
}
