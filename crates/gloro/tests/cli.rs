//! The `gloro` binary end to end: train a tiny run, certify a dataset split and PNG files,
//! export, check soundness, and fail clearly on bad input.

#![cfg(feature = "flex")]

use std::path::Path;
use std::process::{Command, Output};

fn gloro(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gloro"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("gloro runs")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn write_png(path: &Path, pixels: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 28, 28);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(pixels).unwrap();
}

#[test]
fn train_certify_export_and_soundness_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/mnist-0.3-quick.json");
    let runs = dir.path().join("runs");
    let cfg = config.to_str().unwrap();
    let out = gloro(
        &[
            "train",
            "--config",
            cfg,
            "--subset",
            "--epochs",
            "1",
            "--name",
            "cli",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        dir.path(),
    );
    let summary = stdout_json(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("device: flex"),
        "prints the device"
    );
    assert!(summary["vra"].as_f64().unwrap() > 0.1);
    let run = runs.join("gloro/cli");
    let run_s = run.to_str().unwrap();

    // the whole embedded test split, certified from the saved run, must give exactly the VRA
    // the training run reported for its in-memory model (reload, bounds and margins agree)
    let split = stdout_json(&gloro(&["certify", "--run", run_s, "--subset"], dir.path()));
    assert_eq!(split["n"], 2000);
    assert_eq!(split["embedded_subset"], true);
    assert_eq!(split["certificate"], true);
    assert_eq!(
        split["vra"].as_f64(),
        summary["vra"].as_f64(),
        "{split} vs {summary}"
    );
    assert_eq!(split["k"].as_f64(), summary["k"].as_f64());
    // K is the product of the reported per-layer sound bounds, never below any estimate by
    // more than the estimate's own error
    let layers = split["layers"].as_array().unwrap();
    let product: f64 = layers.iter().map(|l| l["upper"].as_f64().unwrap()).product();
    let k = split["k"].as_f64().unwrap();
    assert!(
        k >= product && k < product * (1.0 + 1e-9),
        "K {k} vs product {product}"
    );
    // the paper's estimate is labelled as such
    let estimate = stdout_json(&gloro(
        &[
            "certify",
            "--run",
            run_s,
            "--subset",
            "--limit",
            "200",
            "--bound",
            "power-iteration",
            "--no-float-margin",
        ],
        dir.path(),
    ));
    assert_eq!(estimate["certificate"], false);

    // a real test digit (a 7) and a blank image
    let test = repro_core::data::locate::embedded_mnist(repro_core::data::Split::Test).unwrap();
    let (seven, blank) = (dir.path().join("seven.png"), dir.path().join("blank.png"));
    write_png(&seven, test.image(0));
    write_png(&blank, &[0; 784]);
    let images = stdout_json(&gloro(
        &[
            "certify",
            "--run",
            run_s,
            "--images",
            seven.to_str().unwrap(),
            blank.to_str().unwrap(),
        ],
        dir.path(),
    ));
    let first = &images["images"][0];
    assert_eq!(first["class"], 7, "the PNG is read back as the digit it holds");
    assert!(
        first["radius"].as_f64().unwrap() > 0.0,
        "a clean 7 has a positive radius: {first}"
    );

    let export = dir.path().join("m.safetensors");
    let out = gloro(
        &["export", "--run", run_s, "--out", export.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(export.metadata().unwrap().len() > 100_000);

    let sound = stdout_json(&gloro(
        &[
            "soundness",
            "--run",
            run_s,
            "--subset",
            "--limit",
            "40",
            "--steps",
            "10",
            "--restarts",
            "1",
        ],
        dir.path(),
    ));
    assert_eq!(sound["certified_broken"], 0);
    assert_eq!(sound["points"], 40);
    assert!(
        sound["uncertified_broken"].as_u64().unwrap() > 0,
        "the attack breaks some uncertified points: {sound}"
    );
}

#[test]
fn bad_inputs_fail_with_messages_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = gloro(&["train", "--config", "no-such.json"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such.json"));

    let out = gloro(&["certify", "--run", "not-a-run"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-a-run/config.json"));

    let out = gloro(&["bench", "--batch", "0"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch"));

    let out = gloro(&["--device", "wgpu", "toy"], dir.path());
    if !cfg!(feature = "wgpu") {
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("--features wgpu"));
    }
}
