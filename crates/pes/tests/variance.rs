//! §5.4, Fig. 7 at a small scale on the paper's model (a character-level LSTM): PES's
//! normalised variance stays flat with the number of unrolls on a repeated character
//! (correlated truncations) and grows on random characters; a missing text file is an error
//! naming it.

use burn::tensor::Device;
use pes::experiments::variance::{VarianceConfig, run};
use pes::problems::lstm::TextSequence;
use std::io::Write;

const TEXT: &str = "When in the course of human events it becomes necessary for one people to dissolve \
the political bands which have connected them with another, and to assume among the powers of the \
earth the separate and equal station to which the laws of nature entitle them, a decent respect to \
the opinions of mankind requires that they should declare the causes which impel them.";

fn config(text: std::path::PathBuf) -> VarianceConfig {
    VarianceConfig {
        length: 60,
        truncations: vec![1, 6, 60],
        particles: 100,
        repeats: 12,
        sequences: vec![TextSequence::Repeat, TextSequence::Random, TextSequence::Real],
        text,
        ..VarianceConfig::quick()
    }
}

#[test]
fn variance_is_flat_on_a_repeated_character_and_grows_on_random_characters() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(TEXT.as_bytes()).unwrap();
    let curves = run(&config(file.path().to_path_buf()), &Device::flex()).unwrap();
    for c in &curves {
        eprintln!("{}: {:?} ± {:?}", c.sequence, c.points, c.std_errors);
    }
    // points are (T/K, variance) for K = 1, 6, 60 → T/K = 60, 10, 1.
    let ratio = |p: &[(usize, f64)]| p[0].1 / p[2].1;
    let (repeat, random) = (&curves[0].points, &curves[1].points);
    assert!(
        ratio(repeat) < 2.5,
        "repeated: variance grew {:.2}×",
        ratio(repeat)
    );
    assert!(
        ratio(random) > 5.0,
        "random: variance grew only {:.2}×",
        ratio(random)
    );
    assert_eq!(curves[2].sequence, TextSequence::Real);
}

#[test]
fn a_missing_text_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-text.txt");
    let err = run(&config(path.clone()), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
}
