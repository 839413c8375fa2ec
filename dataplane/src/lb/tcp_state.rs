//! The IPVS TCP connection state machine and the per-state timeouts.
//!
//! The transition table is IPVS's (ip_vs_proto_tcp.c, tabled in ../shared/IPVS-SEMANTICS.md). Flags
//! are read in the order RST, SYN, FIN, ACK and the first one set picks the row; a segment with none of
//! them moves the connection to CLOSE. INPUT is client to server, OUTPUT server to client, INPUT-ONLY is
//! used while no OUTPUT packet has been seen on a connection whose replies bypass the gateway.

use std::fmt;

/// A TCP connection state, as IPVS names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// NONE.
    None = 0,
    /// ESTABLISHED.
    Established = 1,
    /// SYN_SENT.
    SynSent = 2,
    /// SYN_RECV.
    SynRecv = 3,
    /// FIN_WAIT.
    FinWait = 4,
    /// TIME_WAIT.
    TimeWait = 5,
    /// CLOSE.
    Close = 6,
    /// CLOSE_WAIT.
    CloseWait = 7,
    /// LAST_ACK.
    LastAck = 8,
    /// LISTEN.
    Listen = 9,
    /// SYNACK.
    SynAck = 10,
}

/// Number of TCP states.
pub const TCP_STATES: usize = 11;

impl TcpState {
    const ALL: [TcpState; TCP_STATES] = [
        Self::None,
        Self::Established,
        Self::SynSent,
        Self::SynRecv,
        Self::FinWait,
        Self::TimeWait,
        Self::Close,
        Self::CloseWait,
        Self::LastAck,
        Self::Listen,
        Self::SynAck,
    ];

    /// The state stored as `u8` (in a connection entry); unknown values read as CLOSE.
    #[inline]
    pub fn from_u8(v: u8) -> Self {
        Self::ALL.get(usize::from(v)).copied().unwrap_or(Self::Close)
    }

    /// The name ipvsadm prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Established => "ESTABLISHED",
            Self::SynSent => "SYN_SENT",
            Self::SynRecv => "SYN_RECV",
            Self::FinWait => "FIN_WAIT",
            Self::TimeWait => "TIME_WAIT",
            Self::Close => "CLOSE",
            Self::CloseWait => "CLOSE_WAIT",
            Self::LastAck => "LAST_ACK",
            Self::Listen => "LISTEN",
            Self::SynAck => "SYNACK",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which way a segment travels, for the state table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateDir {
    /// Client to real server.
    Input,
    /// Real server to client.
    Output,
    /// Client to real server on a connection that has seen no OUTPUT packet and may never see one.
    InputOnly,
}

const RST: u8 = 0x04;
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const ACK: u8 = 0x10;

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI, SynRecv as SR,
    SynSent as SS, TimeWait as TW,
};

/// Rows syn, fin, ack, rst; columns NO ES SS SR FW TW CL CW LA LI SA.
type Table = [[TcpState; TCP_STATES]; 4];

#[rustfmt::skip]
const INPUT: Table = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    /* ack */ [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];

#[rustfmt::skip]
const OUTPUT: Table = [
    /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];

#[rustfmt::skip]
const INPUT_ONLY: Table = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// The state after a segment with TCP `flags` travelling in `dir` reaches a connection in `state`.
#[inline]
pub fn next_state(state: TcpState, dir: StateDir, flags: u8) -> TcpState {
    let row = if flags & RST != 0 {
        3
    } else if flags & SYN != 0 {
        0
    } else if flags & FIN != 0 {
        1
    } else if flags & ACK != 0 {
        2
    } else {
        return TcpState::Close;
    };
    let table = match dir {
        StateDir::Input => &INPUT,
        StateDir::Output => &OUTPUT,
        StateDir::InputOnly => &INPUT_ONLY,
    };
    table[row][state as usize]
}

/// Connection timeouts in milliseconds, per TCP state and for UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Per TCP state, indexed by `TcpState as usize`.
    pub tcp: [u64; TCP_STATES],
    /// UDP flows.
    pub udp: u64,
}

impl Default for Timeouts {
    /// IPVS's defaults: NONE 2 s, ESTABLISHED 900 s, SYN_SENT 120 s, SYN_RECV 60 s, FIN_WAIT 120 s,
    /// TIME_WAIT 120 s, CLOSE 10 s, CLOSE_WAIT 60 s, LAST_ACK 30 s, LISTEN 120 s, SYNACK 120 s; UDP 300 s.
    fn default() -> Self {
        const S: u64 = 1000;
        Self {
            tcp: [2 * S, 900 * S, 120 * S, 60 * S, 120 * S, 120 * S, 10 * S, 60 * S, 30 * S, 120 * S, 120 * S],
            udp: 300 * S,
        }
    }
}

impl Timeouts {
    /// The timeout of a TCP state.
    #[inline]
    pub fn tcp(&self, state: TcpState) -> u64 {
        self.tcp[state as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_way_handshake_and_close() {
        let mut s = TcpState::None;
        s = next_state(s, StateDir::Input, SYN);
        assert_eq!(s, TcpState::SynRecv);
        s = next_state(s, StateDir::Output, SYN | ACK);
        assert_eq!(s, TcpState::SynRecv);
        s = next_state(s, StateDir::Input, ACK);
        assert_eq!(s, TcpState::Established);
        s = next_state(s, StateDir::Input, FIN | ACK);
        assert_eq!(s, TcpState::CloseWait);
        s = next_state(s, StateDir::Output, FIN | ACK);
        assert_eq!(s, TcpState::TimeWait);
        s = next_state(s, StateDir::Input, ACK);
        assert_eq!(s, TcpState::TimeWait);
    }

    #[test]
    fn flags_are_read_rst_syn_fin_ack() {
        // RST wins over everything, SYN over FIN and ACK, FIN over ACK.
        assert_eq!(next_state(TcpState::Established, StateDir::Input, RST | SYN | FIN | ACK), TcpState::Close);
        assert_eq!(next_state(TcpState::Established, StateDir::Input, SYN | FIN), TcpState::Established);
        assert_eq!(next_state(TcpState::Established, StateDir::Input, FIN | ACK), TcpState::CloseWait);
        assert_eq!(next_state(TcpState::Established, StateDir::Input, 0), TcpState::Close);
        assert_eq!(next_state(TcpState::Established, StateDir::Input, 0x08), TcpState::Close);
    }

    #[test]
    fn input_only_differs_where_ipvs_says() {
        assert_eq!(next_state(TcpState::Established, StateDir::InputOnly, FIN), TcpState::FinWait);
        assert_eq!(next_state(TcpState::SynAck, StateDir::InputOnly, RST), TcpState::Close);
        assert_eq!(next_state(TcpState::SynAck, StateDir::Input, RST), TcpState::SynRecv);
    }

    #[test]
    fn default_timeouts_are_ipvs_defaults() {
        let t = Timeouts::default();
        assert_eq!(t.tcp(TcpState::Established), 900_000);
        assert_eq!(t.tcp(TcpState::SynRecv), 60_000);
        assert_eq!(t.tcp(TcpState::Close), 10_000);
        assert_eq!(t.udp, 300_000);
        for (i, s) in TcpState::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_eq!(TcpState::from_u8(u8::try_from(i).unwrap()), *s);
        }
        assert_eq!(TcpState::from_u8(200), TcpState::Close);
    }
}
