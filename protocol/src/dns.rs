//! What a weir-dns instance tells the control plane with each report: its view of every GSLB
//! member (health from its own probes, the weight it applies), capped so a report stays far
//! under [`MAX_REPORT_BYTES`](crate::MAX_REPORT_BYTES) whatever the config holds.

use serde::{Deserialize, Serialize};

/// Most members a report carries (the rest are counted in [`DnsView::left_out`]).
pub const MAX_REPORT_MEMBERS: usize = 64;
/// Longest name or region a report carries, in bytes (a longer one is cut at a char boundary).
pub const MAX_MEMBER_NAME_BYTES: usize = 128;

/// A weir-dns instance's view of its members, sent with its reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsView {
    /// At most [`MAX_REPORT_MEMBERS`], by name then config order.
    pub members: Vec<MemberHealth>,
    /// Members not carried because of the cap.
    #[serde(default)]
    pub left_out: usize,
}

/// One member of one GSLB name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberHealth {
    /// The GSLB name (`api.gslb.example.com`).
    pub name: String,
    pub region: String,
    /// Healthy per this instance's probes (always, for a member without a `health` URL).
    pub healthy: bool,
    /// The weight applied (`weirctl weight/drain` move it).
    pub weight: u32,
    /// Healthy with weight > 0: in the answers.
    pub answered: bool,
    /// The gateways of its region as the control plane last said (absent when weir-dns judges
    /// by probes alone: no control plane, or no gateway known in the region). All known and none
    /// ready takes the member out of the answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<crate::RegionGateways>,
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_MEMBER_NAME_BYTES {
        let mut end = MAX_MEMBER_NAME_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

impl DnsView {
    /// Keeps the first [`MAX_REPORT_MEMBERS`] of `members` (names and regions cut to
    /// [`MAX_MEMBER_NAME_BYTES`]) and counts the rest. What both sides keep.
    pub fn capped(members: Vec<MemberHealth>) -> DnsView {
        let left_out = members.len().saturating_sub(MAX_REPORT_MEMBERS);
        let members = members
            .into_iter()
            .take(MAX_REPORT_MEMBERS)
            .map(|member| MemberHealth {
                name: cut(member.name),
                region: cut(member.region),
                ..member
            })
            .collect();
        DnsView { members, left_out }
    }

    /// The same view with the caps applied (for a view that came over the wire).
    pub fn recapped(self) -> DnsView {
        let DnsView { members, left_out } = self;
        let mut view = DnsView::capped(members);
        view.left_out = view.left_out.saturating_add(left_out);
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: String) -> MemberHealth {
        MemberHealth {
            name,
            region: "é".repeat(200),
            healthy: true,
            weight: u32::MAX,
            answered: true,
            gateways: Some(crate::RegionGateways {
                known: u32::MAX,
                ready: u32::MAX,
            }),
        }
    }

    #[test]
    fn views_are_capped_in_members_and_name_length() {
        let view = DnsView::capped((0..1000).map(|_| member("n".repeat(10_000))).collect());
        assert_eq!(view.members.len(), MAX_REPORT_MEMBERS);
        assert_eq!(view.left_out, 1000 - MAX_REPORT_MEMBERS);
        assert!(
            view.members
                .iter()
                .all(|m| m.name.len() == MAX_MEMBER_NAME_BYTES)
        );
        assert!(
            view.members
                .iter()
                .all(|m| m.region.len() <= MAX_MEMBER_NAME_BYTES)
        );
        let report = crate::Report {
            region: None,
            version: u64::MAX,
            outcome: crate::Outcome::Ack,
            errors: crate::cap_errors((0..500).map(|_| "\u{1}".repeat(10_000)).collect()),
            applied_version: u64::MAX,
            applied_at_unix_us: Some(u64::MAX),
            dns: Some(view.clone()),
        };
        assert!(serde_json::to_vec(&report).unwrap().len() < crate::MAX_REPORT_BYTES);
        let mut wide = view;
        wide.members.extend((0..10).map(|_| member("x".into())));
        wide.left_out = 1;
        let again = wide.recapped();
        assert_eq!(again.members.len(), MAX_REPORT_MEMBERS);
        assert_eq!(again.left_out, 11);
    }
}
