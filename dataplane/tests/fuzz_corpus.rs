//! The fuzz target's body (`fixtures::fuzz::worker_path`) over its seed corpus and over mutations
//! of it, in every CI run: the same assertions as the fuzzer's (no panic, well-formed output,
//! counters that add up), deterministic and bounded. The long runs use cargo-fuzz (docs/RELIABILITY.md).

use std::path::Path;

use dataplane::fixtures::fuzz::{seed_corpus, worker_path};

/// A small deterministic generator for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

#[test]
fn the_committed_seed_corpora_are_the_fixture_table_and_a_request_of_each_command() {
    check_corpus("worker_path", &seed_corpus());
    check_corpus("control_request", &dataplane::control::fuzz::seed_requests());
}

fn check_corpus(target: &str, seeds: &[Vec<u8>]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    if std::env::var_os("FNAT_WRITE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("fixture-{i:03}")), s).unwrap();
        }
    }
    for (i, s) in seeds.iter().enumerate() {
        let path = dir.join(format!("fixture-{i:03}"));
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; write the corpus with FNAT_WRITE_CORPUS=1 cargo test --test fuzz_corpus", path.display())
        });
        assert!(
            on_disk == *s,
            "{} differs from the fixture table: rewrite it with FNAT_WRITE_CORPUS=1",
            path.display()
        );
    }
}

#[test]
fn every_seed_and_every_committed_input_runs_clean() {
    for s in seed_corpus() {
        worker_path(&s);
    }
    // The corpus directory also keeps what the fuzzer once found (regress-*), fixed since.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/worker_path");
    let mut regressions = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        worker_path(&std::fs::read(&path).unwrap());
        regressions += usize::from(path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("regress-")));
    }
    assert!(regressions >= 1, "the regression inputs are in {}", dir.display());
}

#[test]
fn mutations_of_the_seeds_run_clean() {
    let seeds = seed_corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            match rng.below(5) {
                0 if !input.is_empty() => {
                    let i = rng.below(input.len());
                    input[i] = u8::try_from(rng.next() & 0xff).unwrap();
                }
                1 if !input.is_empty() => {
                    let i = rng.below(input.len());
                    input[i] ^= 1 << rng.below(8);
                }
                2 => input.truncate(rng.below(input.len() + 1)),
                3 => {
                    let other = &seeds[rng.below(seeds.len())];
                    let at = rng.below(other.len() + 1);
                    input.extend_from_slice(&other[at..]);
                }
                _ => {
                    let i = rng.below(input.len() + 1);
                    input.insert(i, u8::try_from(rng.next() & 0xff).unwrap());
                }
            }
        }
        worker_path(&input);
    }
}

#[test]
fn the_sync_message_corpus_is_its_seeds_and_they_and_their_mutations_run_clean() {
    use dataplane::ha::sync::fuzz::{run, seeds};
    let seeds = seeds();
    check_corpus("sync_message", &seeds);
    for s in &seeds {
        run(s);
    }
    // And what the fuzzer once broke on (regress-*: a resync request written back as connections).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/sync_message");
    for entry in std::fs::read_dir(&dir).unwrap() {
        run(&std::fs::read(entry.unwrap().path()).unwrap());
    }
    let mut rng = Rng(0x6a09_e667_f3bc_c908);
    for _ in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            if input.is_empty() {
                break;
            }
            let i = rng.below(input.len());
            match rng.below(4) {
                0 => input[i] ^= 1 << rng.below(8),
                1 => input[i] = u8::try_from(rng.next() & 0xff).unwrap(),
                2 => input.truncate(i),
                _ => input.insert(i, u8::try_from(rng.next() & 0xff).unwrap()),
            }
        }
        run(&input);
    }
}

#[test]
fn control_requests_and_their_mutations_are_answered_all_or_nothing() {
    use dataplane::control::fuzz::{request, seed_requests};
    let seeds = seed_requests();
    for s in &seeds {
        request(s);
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            if input.is_empty() {
                break;
            }
            let i = rng.below(input.len());
            match rng.below(4) {
                // A digit changed: values out of range, unknown ports, other addresses.
                0 => {
                    if input[i].is_ascii_digit() {
                        input[i] = b'0' + u8::try_from(rng.below(10)).unwrap();
                    }
                }
                1 => input[i] = u8::try_from(rng.next() & 0xff).unwrap(),
                2 => input.truncate(i),
                _ => input.insert(i, b"0123456789,:{}[]\"-"[rng.below(18)]),
            }
        }
        request(&input);
    }
}
