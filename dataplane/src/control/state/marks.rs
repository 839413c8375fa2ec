//! The firewall-mark classifier's rules in the control state: `--add-mark` appends one,
//! `--del-mark` removes one; the snapshot's [`Services`](crate::lb::Services) carry them in order.

use super::{ControlState, CtrlError};
use crate::lb::fwmark::{Classifier, MarkRule};

impl ControlState {
    /// Appends a rule: mark > 0, a destination without host bits, port ranges that do not end
    /// before they start; an identical rule is refused.
    pub(super) fn add_mark(&mut self, rule: &MarkRule) -> Result<(), CtrlError> {
        ctrl::limits::check_mark_rule(rule)?;
        if self.marks.rules().contains(rule) {
            return Err(CtrlError::MarkRuleExists(rule.clone()));
        }
        let mut rules = self.marks.rules().to_vec();
        rules.push(rule.clone());
        self.marks = Classifier::new(rules);
        Ok(())
    }

    /// Removes the rule equal to `rule`.
    pub(super) fn del_mark(&mut self, rule: &MarkRule) -> Result<(), CtrlError> {
        let mut rules = self.marks.rules().to_vec();
        let i = rules.iter().position(|r| r == rule).ok_or_else(|| CtrlError::NoSuchMarkRule(rule.clone()))?;
        rules.remove(i);
        self.marks = Classifier::new(rules);
        Ok(())
    }

    /// The classifier's rules in order.
    pub fn marks(&self) -> &[MarkRule] {
        self.marks.rules()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::NoConnections;
    use crate::control::ControlState;
    use crate::lb::fwmark::MarkRule;
    use crate::lb::{FwdMethod, Persistence, Protocol, SchedFlags, SchedKind, ServiceKey, Services};
    use ctrl::msg::CtrlError;
    use ctrl::msg::{Command, DestSpec, Reply, Request, ServiceSpec};

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

    fn run(st: &mut ControlState, commands: Vec<Command>) -> Result<Reply, CtrlError> {
        st.apply(&Request { id: 1, commands }, &NoConnections)
    }

    fn rule(mark: u32, ports: Vec<(u16, u16)>) -> MarkRule {
        MarkRule { mark, dst: VIP, prefix: 32, proto: Some(Protocol::Tcp), ports }
    }

    fn fwm(mark: u32, persistence: Option<Persistence>) -> ServiceSpec {
        ServiceSpec { key: ServiceKey::mark(mark), scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence }
    }

    fn rs(port: u16, method: FwdMethod) -> DestSpec {
        DestSpec { addr: Ipv4Addr::new(10, 1, 0, 11), port, weight: 1, method, upper: 0, lower: 0 }
    }

    #[test]
    fn mark_rules_reach_the_snapshot_in_order() {
        let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
        let web = rule(1, vec![(80, 80), (443, 443)]);
        let all = MarkRule { dst: Ipv4Addr::new(10, 0, 0, 0), prefix: 24, proto: None, ..rule(2, vec![]) };
        run(&mut st, vec![Command::AddMark(web.clone()), Command::AddMark(all.clone())]).unwrap();
        assert_eq!(run(&mut st, vec![Command::ListMarks]).unwrap(), Reply::Marks(vec![web.clone(), all.clone()]));
        let snap = st.services().unwrap();
        assert_eq!(snap.marks().classify(Protocol::Tcp, VIP, 443), Some(1));
        assert_eq!(snap.marks().classify(Protocol::Udp, VIP, 443), Some(2));
        assert!(snap.is_vip(VIP), "a /32 rule's address is a VIP");
        assert_eq!(run(&mut st, vec![Command::AddMark(web.clone())]), Err(CtrlError::MarkRuleExists(web.clone())));
        let zero = rule(0, vec![]);
        assert!(run(&mut st, vec![Command::AddMark(zero)]).is_err());
        let host_bits = MarkRule { prefix: 24, ..rule(3, vec![]) };
        assert!(run(&mut st, vec![Command::AddMark(host_bits)]).is_err());
        let backwards = rule(3, vec![(90, 80)]);
        assert!(run(&mut st, vec![Command::AddMark(backwards)]).is_err());
        run(&mut st, vec![Command::DelMark(web.clone())]).unwrap();
        assert_eq!(run(&mut st, vec![Command::DelMark(web.clone())]), Err(CtrlError::NoSuchMarkRule(web)));
        assert_eq!(st.marks(), &[all][..]);
        // A local address may not be a marked VIP.
        run(&mut st, vec![Command::AddMark(rule(1, vec![])), Command::AddService(fwm(1, None))]).unwrap();
        let laddr = Command::AddLaddr { svc: ServiceKey::mark(1), addr: VIP };
        assert!(run(&mut st, vec![laddr]).is_err());
    }

    #[test]
    fn fwmark_services_need_no_persistence_and_keep_or_map_ports() {
        let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
        let svc = ServiceKey::mark(1);
        run(&mut st, vec![Command::AddService(fwm(1, None))]).unwrap();
        run(&mut st, vec![Command::EditService(fwm(1, Some(Persistence::secs(360))))]).unwrap();
        run(&mut st, vec![Command::AddDest { svc, dest: rs(0, FwdMethod::Dr) }]).unwrap();
        run(&mut st, vec![Command::AddDest { svc, dest: rs(8080, FwdMethod::FullNat) }]).unwrap();
        let dr_mapped =
            Command::AddDest { svc, dest: DestSpec { addr: Ipv4Addr::new(10, 1, 0, 12), ..rs(80, FwdMethod::Dr) } };
        assert!(run(&mut st, vec![dr_mapped]).is_err(), "DR cannot map ports");
        // A fwmark key with an address is not a fwmark service.
        let odd = ServiceSpec { key: ServiceKey { vip: VIP, ..svc }, ..fwm(1, None) };
        assert!(run(&mut st, vec![Command::AddService(odd)]).is_err());
        let snap = st.services().unwrap();
        assert_eq!(snap.find(&svc).map(|(_, s)| s.dests.len()), Some(2));
        assert_eq!(snap.vips().count(), 0, "no rule, no VIP");
    }
}
