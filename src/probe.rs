//! A small attention-shaped computation, `softmax(q kᵀ / √d) v`, that proves a Burn device
//! works end to end: natively on the CPU (flex) and wgpu backends, and in the browser on
//! WebGPU. Its inputs are deterministic and [`probe_reference`] computes the same values in
//! plain f64 loops, so every backend is checked against numbers that do not come from Burn.

use burn::tensor::{Device, Tensor, TensorData, activation::softmax};

/// Query rows.
pub const QUERIES: usize = 8;
/// Key and value rows.
pub const KEYS: usize = 12;
/// Feature width of queries and keys.
pub const DIM: usize = 16;
/// Feature width of values and of the output.
pub const VALUE_DIM: usize = 4;

/// The probe's result as read back from a device.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// The output, row-major, shape `[QUERIES, VALUE_DIM]`.
    pub values: Vec<f32>,
    /// Largest absolute difference from [`probe_reference`].
    pub max_abs_err: f32,
}

/// A deterministic input value in [-0.5, 0.5): distinct per matrix (`salt`) and position.
fn input_value(row: usize, col: usize, salt: usize) -> f32 {
    ((row * 7 + col * 3 + salt * 5) % 11) as f32 / 11.0 - 0.5
}

/// A `rows x cols` input matrix, row-major.
fn input_matrix(rows: usize, cols: usize, salt: usize) -> Vec<f32> {
    (0..rows * cols).map(|i| input_value(i / cols, i % cols, salt)).collect()
}

/// The probe on `device`, lazily: `softmax(q kᵀ / √DIM) v`.
///
/// # Shapes
/// - output: `[QUERIES, VALUE_DIM]`
pub fn probe_forward(device: &Device) -> Tensor<2> {
    let matrix = |rows, cols, salt| {
        Tensor::<2>::from_data(TensorData::new(input_matrix(rows, cols, salt), [rows, cols]), device)
    };
    let q = matrix(QUERIES, DIM, 0); // [QUERIES, DIM]
    let k = matrix(KEYS, DIM, 1); // [KEYS, DIM]
    let v = matrix(KEYS, VALUE_DIM, 2); // [KEYS, VALUE_DIM]
    let scores = q.matmul(k.transpose()) / (DIM as f64).sqrt(); // [QUERIES, KEYS]
    softmax(scores, 1).matmul(v) // [QUERIES, VALUE_DIM]
}

/// The probe computed in f64 without Burn, row-major `[QUERIES, VALUE_DIM]`.
pub fn probe_reference() -> Vec<f32> {
    let (q, k, v) = (input_matrix(QUERIES, DIM, 0), input_matrix(KEYS, DIM, 1), input_matrix(KEYS, VALUE_DIM, 2));
    let mut out = Vec::with_capacity(QUERIES * VALUE_DIM);
    for i in 0..QUERIES {
        let scores: Vec<f64> = (0..KEYS)
            .map(|j| (0..DIM).map(|d| q[i * DIM + d] as f64 * k[j * DIM + d] as f64).sum::<f64>() / (DIM as f64).sqrt())
            .collect();
        let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        for c in 0..VALUE_DIM {
            let value: f64 = (0..KEYS).map(|j| weights[j] * v[j * VALUE_DIM + c] as f64).sum();
            out.push((value / total) as f32);
        }
    }
    out
}

/// Runs the probe on `device`, reads it back asynchronously (the only way WebGPU allows) and
/// compares it with [`probe_reference`].
pub async fn run_probe(device: &Device) -> Result<ProbeReport, String> {
    let data = probe_forward(device)
        .into_data_async()
        .await
        .map_err(|e| format!("reading the probe back from {device:?} failed: {e:?}"))?;
    let values = data
        .try_into_vec::<f32>()
        .map_err(|e| format!("probe output is not f32: {e:?}"))?;
    let max_abs_err = max_abs_diff(&values, &probe_reference());
    Ok(ProbeReport { values, max_abs_err })
}

/// Largest absolute elementwise difference; infinite when the lengths differ or a value is NaN,
/// so that a wrong or missing result can never look like a match.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).fold(0.0, |m, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() { f32::INFINITY } else { m.max(d) }
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn reference_rows_are_convex_combinations_of_values() {
        // Softmax weights sum to one, so each output lies within the range of its value column.
        let out = probe_reference();
        let v = input_matrix(KEYS, VALUE_DIM, 2);
        for c in 0..VALUE_DIM {
            let column: Vec<f32> = (0..KEYS).map(|j| v[j * VALUE_DIM + c]).collect();
            let (lo, hi) = column.iter().fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            for i in 0..QUERIES {
                let x = out[i * VALUE_DIM + c];
                assert!(x > lo && x < hi, "out[{i},{c}] = {x} outside ({lo}, {hi})");
            }
        }
        // Not a constant: the rows differ, so the attention actually depends on q.
        assert!(max_abs_diff(&out[..VALUE_DIM], &out[VALUE_DIM..2 * VALUE_DIM]) > 1e-3);
    }

    #[test]
    fn max_abs_diff_catches_nan_and_length() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, 2.5]), 0.5);
        assert_eq!(max_abs_diff(&[f32::NAN], &[0.0]), f32::INFINITY);
        assert_eq!(max_abs_diff(&[1.0], &[1.0, 2.0]), f32::INFINITY);
    }

    #[test]
    fn flex_matches_reference() {
        let report = pollster::block_on(run_probe(&Device::flex())).unwrap();
        assert!(report.max_abs_err < 1e-6, "flex probe error {}", report.max_abs_err);
    }

    /// Natively, wgpu runs on Vulkan (lavapipe on a machine without a GPU); a missing adapter
    /// fails this test rather than skipping it.
    #[test]
    fn wgpu_matches_flex_and_reference() {
        let wgpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
        let on_gpu = pollster::block_on(run_probe(&wgpu)).unwrap();
        let on_cpu = pollster::block_on(run_probe(&Device::flex())).unwrap();
        let between = max_abs_diff(&on_gpu.values, &on_cpu.values);
        println!("probe wgpu vs flex max_abs_err={between:e}, wgpu vs f64 {:e}", on_gpu.max_abs_err);
        assert!(between < 1e-5, "wgpu and flex differ by {between}");
        assert!(on_gpu.max_abs_err < 1e-5, "wgpu probe error {}", on_gpu.max_abs_err);
    }
}
