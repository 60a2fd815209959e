//! Tests of [`super`] (trainer.rs).

use super::*;

/// Settings for 100 steps of sigma-25 denoising at lr 1e-3, with no folders.
fn settings(config: GrlConfig) -> TrainSettings {
    TrainSettings {
        config,
        degradation: "noise:25".into(),
        train_dir: PathBuf::new(),
        val_dir: PathBuf::new(),
        steps: 100,
        batch: 1,
        patch: 16,
        lr: 1e-3,
        min_lr: 1e-5,
        seed: 0,
        val_every: 10,
        val_crop: 64,
        init: None,
    }
}

#[test]
fn an_upscaler_starts_from_the_body_of_another_scale() {
    use burn::module::Module;
    let device = Device::flex();
    let x2 = GrlConfig { embed_dim: 8, upscale: 2, upsampler: crate::model::Upsampler::PixelShuffleDirect, depths: vec![1], num_heads_window: vec![1], num_heads_stripe: vec![1], mlp_ratio: 1.0, ..GrlConfig::default() };
    let x4 = GrlConfig { upscale: 4, ..x2.clone() };
    let trained = x2.init(&device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x2.safetensors");
    let provenance = Provenance { name: "x2".into(), ..Provenance::default() };
    std::fs::write(&path, web_format::save(&trained, &provenance, StorageDType::F32).unwrap()).unwrap();

    let started = initial_weights(&path, &x4, &device).unwrap();
    assert_eq!(started.config, x4);
    let weights = |m: &Grl| m.conv_first.weight.val().into_data();
    weights(&started).assert_eq(&weights(&trained), true);
    let tail = started.upsample.as_ref().unwrap().up[0].weight.dims();
    assert_eq!(tail[0], 3 * 16, "the x4 tail: 3 x 4² channels before the shuffle");
    assert_eq!(started.num_params() - trained.num_params(), (3 * 16 - 3 * 4) * (8 * 9 + 1), "only the tail grew");

    let other = GrlConfig { embed_dim: 16, ..x4 };
    let err = initial_weights(&path, &other, &device).map(|_| ()).unwrap_err();
    assert!(err.contains("has another configuration than --config"), "{err}");
}

#[test]
fn cosine_schedule_ends() {
    let settings = settings(GrlConfig::default());
    assert!((learning_rate(&settings, 0) - 0.5e-3).abs() < 1e-12, "warm-up over 2 steps");
    assert!((learning_rate(&settings, 2) - 1e-3 * (1.0 + (std::f64::consts::PI * 0.02).cos()) / 2.0 - 1e-5 * (1.0 - (std::f64::consts::PI * 0.02).cos()) / 2.0).abs() < 1e-12);
    assert!((learning_rate(&settings, 50) - (1e-3 + 1e-5) / 2.0).abs() < 1e-12);
    assert!((learning_rate(&settings, 100) - 1e-5).abs() < 1e-12);
}

#[test]
fn a_non_finite_loss_stops_the_run() {
    assert_eq!(finite_loss(0.25, 3, 1e-3), Ok(0.25));
    let err = finite_loss(f64::NAN, 7, 0.5).unwrap_err();
    assert_eq!(err, "training diverged at step 7: the loss is NaN (try a lower --lr than 0.5); the run's checkpoints are kept");
    assert!(finite_loss(f64::INFINITY, 1, 1e-3).unwrap_err().contains("the loss is inf"));
}

#[test]
fn zero_absurd_and_non_finite_settings_are_refused() {
    let good = settings(GrlConfig::preset("dn_grl_tiny_c3s25").unwrap());
    let noise = Degradation::parse("noise:25").unwrap();
    check_settings(&good, &noise).unwrap();
    let cases: Vec<(TrainSettings, &str)> = vec![
        (TrainSettings { val_crop: 0, ..good.clone() }, "val_crop is 0: expected 16 to 2048"),
        (TrainSettings { val_crop: 1 << 40, ..good.clone() }, "val_crop is 1099511627776: expected 16 to 2048"),
        (TrainSettings { patch: 0, ..good.clone() }, "patch is 0: expected 1 to 2048"),
        (TrainSettings { batch: usize::MAX, ..good.clone() }, "batch is 18446744073709551615: expected 1 to 256"),
        (TrainSettings { steps: 0, ..good.clone() }, "steps is 0: expected 1 to 10000000"),
        (TrainSettings { lr: f64::NAN, ..good.clone() }, "lr is NaN: expected a learning rate above 0 and at most 1"),
        (TrainSettings { lr: f64::INFINITY, ..good.clone() }, "lr is inf"),
        (TrainSettings { lr: 0.0, ..good.clone() }, "lr is 0"),
        (TrainSettings { lr: -1e-3, ..good.clone() }, "lr is -0.001"),
        (TrainSettings { min_lr: f64::NAN, ..good.clone() }, "min_lr is NaN: expected 0 to lr (0.001)"),
        (TrainSettings { min_lr: 0.1, ..good.clone() }, "min_lr is 0.1"),
    ];
    for (settings, expected) in cases {
        let err = check_settings(&settings, &noise).unwrap_err();
        assert!(err.starts_with(expected), "expected {expected:?}, got {err:?}");
    }
}
