use repro_core::data::{DataArgs, DatasetName, Split};
use ssl_dynamics::augment::Recipe;
use ssl_dynamics::byol::SslConfig;
use ssl_dynamics::nets::{BranchConfig, EncoderKind};
use ssl_dynamics::predictor::PredictorKind;
use ssl_dynamics::probe::ProbeConfig;
use ssl_dynamics::train::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(|s| s.as_str()).unwrap_or("dp");
    let epochs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let branch = BranchConfig::new(EncoderKind::small()).with_in_channels(1);
    let ssl = match which {
        "dp" => SslConfig::byol(branch, PredictorKind::direct_pred()),
        "lin" => SslConfig::byol(branch, PredictorKind::Linear),
        "ss" => SslConfig::simsiam(branch, PredictorKind::direct_pred()),
        _ => {
            let mut c = SslConfig::simsiam(branch, PredictorKind::Linear);
            c.stop_gradient = false;
            c
        }
    };
    let cfg = PretrainConfig {
        ssl,
        dataset: DatasetName::Mnist,
        pretrain_splits: vec![Split::Train],
        recipe: Recipe::Mnist,
        batch: 128,
        epochs,
        train_limit: None,
        knn_k: 200,
        knn_train_limit: 10000,
        probe: ProbeConfig::default(),
        seed: 0,
    };
    let data = RunData::load(&cfg, &DataArgs::default()).unwrap();
    println!(
        "pretrain {} train {} test {} embedded {}",
        data.pretrain.len(),
        data.train.len(),
        data.test.len(),
        data.embedded_subset
    );
    let t = std::time::Instant::now();
    let (tr, res) = pretrain(&cfg, &data, None).unwrap();
    println!("{:?} probe {:?} {:?}", res.logs, res.probe, t.elapsed());
    let t = std::time::Instant::now();
    let enc = calibrate_batch_norm(
        cfg.ssl.branch.init(&burn::tensor::Device::flex()).encoder,
        &data.pretrain,
        Recipe::Mnist,
        20,
    );
    let p = probe_encoder(&enc, &data, Recipe::Mnist, cfg.probe);
    println!("random {:?} {:?}", p, t.elapsed());
    let _ = tr;
}
