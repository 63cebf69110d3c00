//! Every fuzz target's seeds, committed corpus and regression files replayed on stable
//! Rust without libFuzzer: a crash once found stays fixed.

use acmespec::fuzzing::{Target, replay_files};
use std::path::Path;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
}

#[test]
fn every_target_replays_its_seeds_corpus_and_regressions() {
    for target in Target::ALL {
        let seeds = target.generated_seeds();
        assert!(!seeds.is_empty(), "{} has no seeds", target.name());
        for (_, data) in &seeds {
            target.run(data);
        }
        let files = replay_files(fixtures(), target).unwrap();
        assert!(!files.is_empty(), "fixtures/corpus/{} is empty", target.name());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| target.run(&data));
            assert!(outcome.is_ok(), "{} fails on {}", target.name(), file.display());
        }
    }
}
