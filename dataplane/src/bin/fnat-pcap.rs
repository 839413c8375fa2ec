//! fnat-pcap: the capture files of the pcap demo.
//!
//! `fnat-pcap write DIR` writes the demo's client and real-server frames to `DIR/lan-in.pcap` and
//! `DIR/dmz-in.pcap`, and the frames fnatd must send to `DIR/lan-expected.pcap` and
//! `DIR/dmz-expected.pcap`. `fnat-pcap show FILE` prints a capture one frame per line.
//! `fnat-pcap compare DIR` checks fnatd's `*-out.pcap` against the expected frames, frame by frame.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use dataplane::fixtures::{self, DMZ, LAN};
use dataplane::packet::{EtherType, EthernetFrame, Ipv4Packet, TcpPacket, UdpPacket, ipv4::protocol};
use dataplane::pcap;

/// The capture files of fnat's pcap demo.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write the demo's input captures and the expected output captures into DIR.
    Write {
        /// The directory.
        dir: PathBuf,
    },
    /// Print a capture, one frame per line.
    Show {
        /// The capture file.
        file: PathBuf,
    },
    /// Compare fnatd's output captures in DIR with the expected ones.
    Compare {
        /// The directory.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fnat-pcap: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<()> {
    let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    pcap::write_frames(BufWriter::new(f), frames).with_context(|| format!("writing {}", path.display()))
}

fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(pcap::read(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", path.display()))?
        .into_iter()
        .map(|r| r.data)
        .collect())
}

fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Write { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let ports = fixtures::demo_captures();
            for (port, name) in [(LAN, "lan"), (DMZ, "dmz")] {
                let frames = &ports[usize::from(port)];
                write_pcap(&dir.join(format!("{name}-in.pcap")), &frames.input)?;
                write_pcap(&dir.join(format!("{name}-expected.pcap")), &frames.expected)?;
            }
            Ok(())
        }
        Cmd::Show { file } => {
            for (i, f) in read_pcap(&file)?.iter().enumerate() {
                println!("{:3}  {}", i + 1, describe(f));
            }
            Ok(())
        }
        Cmd::Compare { dir } => {
            let mut bad = 0;
            for name in ["lan", "dmz"] {
                let got = read_pcap(&dir.join(format!("{name}-out.pcap")))?;
                let want = read_pcap(&dir.join(format!("{name}-expected.pcap")))?;
                let same = got.iter().zip(&want).filter(|(g, w)| g == w).count();
                println!("{name}: {} frames out, {} expected, {same} identical", got.len(), want.len());
                for (i, (g, w)) in got.iter().zip(&want).enumerate().filter(|(_, (g, w))| g != w) {
                    println!("  frame {}: got  {}\n           want {}", i + 1, describe(g), describe(w));
                }
                if got != want {
                    bad += 1;
                }
            }
            if bad > 0 {
                bail!("the output differs from the expected frames");
            }
            Ok(())
        }
    }
}

/// One line about a frame, tcpdump style.
fn describe(frame: &[u8]) -> String {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return format!("runt frame, {} bytes", frame.len());
    };
    let l2 = format!("{} > {}", eth.src_addr(), eth.dst_addr());
    if eth.ethertype() != EtherType::IPV4 {
        return format!("{l2} ethertype {}", eth.ethertype());
    }
    let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
        return format!("{l2} bad IPv4");
    };
    let (src, dst, ttl) = (ip.src_addr(), ip.dst_addr(), ip.ttl());
    let l4 = match ip.protocol() {
        protocol::TCP => match TcpPacket::new_checked(ip.payload()) {
            Ok(t) => format!(
                "{src}:{} > {dst}:{} TCP [{}] seq {} ack {} len {} csum {}",
                t.src_port(),
                t.dst_port(),
                t.flags(),
                t.seq_number(),
                t.ack_number(),
                t.payload().len(),
                if t.verify_checksum(src, dst) { "ok" } else { "BAD" }
            ),
            Err(_) => format!("{src} > {dst} truncated TCP"),
        },
        protocol::UDP => match UdpPacket::new_checked(ip.payload()) {
            Ok(u) => format!(
                "{src}:{} > {dst}:{} UDP len {} csum {}",
                u.src_port(),
                u.dst_port(),
                u.payload().len(),
                if u.checksum() == 0 {
                    "none"
                } else if u.verify_checksum(src, dst) {
                    "ok"
                } else {
                    "BAD"
                }
            ),
            Err(_) => format!("{src} > {dst} truncated UDP"),
        },
        p => format!("{src} > {dst} proto {p}"),
    };
    format!("{l2}  {l4} ttl {ttl}")
}
