//! The resume rule every paper crate follows, and the test helper that checks it.
//!
//! **Step.** A checkpoint's step counts *completed* units: epochs for `gloro` and
//! `ssl-dynamics`, outer iterations for `pes`. A checkpoint is taken at the end of a unit, so
//! resuming from step `n` runs unit `n + 1` next, exactly as the uninterrupted run would, and
//! the metrics of units `1..=n` come from the checkpoint, not from a rerun.
//!
//! **Randomness.** No generator state is saved. Every random draw made inside unit `u` comes
//! from a generator seeded by [`unit_seed`]`(seed, u)` at the start of that unit (the device's
//! generator through [`burn::tensor::Device::seed`], host-side shuffles through
//! [`crate::data::dataset::epoch_batches`], PES perturbations from `(seed, call)` with the
//! call counter saved in the state). Unit 0 continues the stream that initialisation
//! started, so a fresh run is unchanged by the rule. A resumed run therefore draws the numbers
//! the uninterrupted one would have drawn.
//!
//! **Metrics.** `metrics.jsonl` is rewound to the checkpoint ([`super::RunDir::rewind_metrics`]):
//! lines a killed run logged after its last checkpoint are logged again, once.
//!
//! **Files.** One format for all crates: [`super::Checkpointer`] (burnpack model and optimiser
//! records, safetensors for plain tensors, a JSON index renamed into place last).
//!
//! **Bit-exactness.** On one device and backend a killed-and-resumed run is bit-identical to
//! an uninterrupted one (each crate tests it with [`kill_at_checkpoint`]). Across backends or
//! devices it is not: reduction order differs, and only agreement within tolerances is tested.

use super::checkpoint::Checkpointer;
use crate::error::Error;

fn spawn(source: std::io::Error) -> Error {
    Error::Spawn { source }
}
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use std::process::Command;
use std::time::{Duration, Instant};

/// The seed of the random draws of unit `unit` ≥ 1 of a run seeded with `seed` (see the
/// module documentation; unit 0 continues the initialisation's stream).
pub fn unit_seed(seed: u64, unit: usize) -> u64 {
    seed.wrapping_add(1_000_003u64.wrapping_mul(unit as u64))
}

/// Starts `command` (a training run that checkpoints into `checkpoints`), waits until its
/// latest checkpoint has reached `step`, and kills it with SIGKILL, as a reclaimed machine
/// would. Returns the step of the last complete checkpoint at the moment of the kill (≥
/// `step`; the run is usually in the middle of the next unit). Resuming the run and comparing
/// it with an uninterrupted one is the caller's test.
pub fn kill_at_checkpoint(
    command: &mut Command,
    checkpoints: &Checkpointer,
    step: usize,
    timeout: Duration,
) -> Result<usize, Error> {
    let mut child = command.spawn().map_err(spawn)?;
    let start = Instant::now();
    loop {
        let reached = checkpoints
            .latest::<serde_json::Value>()
            .ok()
            .flatten()
            .map(|ck| ck.step)
            .filter(|&s| s >= step);
        if let Some(s) = reached {
            child.kill().map_err(spawn)?;
            child.wait().map_err(spawn)?;
            // the index may have advanced between reading it and the kill
            let last = checkpoints
                .latest::<serde_json::Value>()
                .ok()
                .flatten()
                .map_or(s, |ck| ck.step);
            return Ok(last);
        }
        if let Some(status) = child.try_wait().map_err(spawn)? {
            return Err(Error::ExitedFirst { status, step });
        }
        if start.elapsed() > timeout {
            child.kill().map_err(spawn)?;
            child.wait().map_err(spawn)?;
            return Err(Error::Timeout { step, timeout });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every float tensor of a module (parameters, batch-norm statistics, buffers), in visiting
/// order, for exact comparisons of two runs' states.
pub fn float_values<M: Module>(module: &M) -> Vec<Vec<f32>> {
    struct Values(Vec<Vec<f32>>);
    impl ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .expect("float tensor"),
            );
        }
    }
    let mut v = Values(Vec::new());
    module.visit(&mut v);
    v.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::RunDir;

    #[test]
    fn unit_seeds_differ_per_unit_and_per_seed() {
        assert_eq!(unit_seed(7, 0), 7);
        let seeds: std::collections::HashSet<u64> = (0..3)
            .flat_map(|s| (0..100).map(move |u| unit_seed(s, u)))
            .collect();
        assert_eq!(seeds.len(), 300);
    }

    /// A shell loop that checkpoints a step every 50 ms is killed after step 2, mid-run.
    #[test]
    fn kills_a_running_job_after_the_asked_checkpoint() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "core", "k", false).unwrap();
        let ck = Checkpointer::new(&run);
        std::fs::create_dir_all(&ck.dir).unwrap();
        let index = ck.dir.join("checkpoint.json");
        let script = format!(
            "for s in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do \
               sleep 0.05; \
               printf '{{\"step\": %s, \"state\": null}}' $s > {0}.tmp && mv {0}.tmp {0}; \
             done; touch {1}",
            index.display(),
            root.path().join("finished").display()
        );
        let step = kill_at_checkpoint(
            Command::new("sh").args(["-c", &script]),
            &ck,
            2,
            Duration::from_secs(30),
        )
        .unwrap();
        assert!((2..20).contains(&step), "killed at {step}");
        std::thread::sleep(Duration::from_millis(300));
        assert!(!root.path().join("finished").exists(), "the job was not killed");
        let later = ck.latest::<serde_json::Value>().unwrap().unwrap().step;
        assert_eq!(later, step, "nothing ran after the kill");

        // a job that ends before the checkpoint is an error, not a silent pass
        let e = kill_at_checkpoint(&mut Command::new("true"), &ck, 100, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, Error::ExitedFirst { .. }), "{e}");
    }
}
