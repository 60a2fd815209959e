//! Tests of [`super`] (affine_transform.rs).

use super::*;
use burn::tensor::activation::relu;
use burn::tensor::activation::softmax;
use burn::tensor::{Distribution, TensorData, Tolerance};

/// The reference computation written out: logits = cos * scale + bias + mask, softmax, @ v.
fn naive(
    transform: &AffineTransform,
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    bias: Tensor<3>,
    mask: Option<Tensor<3>>,
) -> Tensor<4> {
    let [b, h, nq, _] = q.dims();
    let nk = k.dims()[2];
    let cos = l2_normalize(q).matmul(l2_normalize(k).swap_dims(2, 3));
    let mut logits = cos * transform.temperature() + bias.unsqueeze::<4>();
    if let Some(mask) = mask {
        let nw = mask.dims()[0];
        let m = mask.unsqueeze_dim::<4>(1).reshape([1, nw, 1, nq, nk]).expand([b / nw, nw, h, nq, nk]);
        logits = logits + m.reshape([b, h, nq, nk]);
    }
    softmax(logits, 3).matmul(v)
}

fn setup(device: &Device) -> (AffineTransform, Tensor<2>, Tensor<1, Int>) {
    let transform = AffineTransformConfig::new(2).with_cpb_hidden(8).init(device);
    // A high scale for head 1, to exercise the clamp at ln(100).
    let transform = AffineTransform {
        logit_scale: Param::from_tensor(Tensor::from_data(TensorData::new(vec![1.0f32, 6.0], [2, 1, 1]), device)),
        ..transform
    };
    let table = Tensor::<2>::random([5, 2], Distribution::Uniform(-1.0, 1.0), device);
    let index = Tensor::<1, Int>::from_data(
        TensorData::new((0..12).map(|i| (i * 7 % 5) as i64).collect::<Vec<_>>(), [12]),
        device,
    );
    (transform, table, index)
}

/// A coordinate table of 2 x 2 windows (9 random entries) and the index into it.
fn window_index(device: &Device) -> (Tensor<2>, PositionIndex) {
    use crate::model::tables::RelativeIndex;
    let table = Tensor::<2>::random([9, 2], Distribution::Uniform(-1.0, 1.0), device);
    (table, PositionIndex::new(RelativeIndex { query: [2, 2], key: [2, 2] }, device))
}

#[test]
fn temperature_is_clamped_at_100() {
    let device = Device::flex();
    let (transform, _, _) = setup(&device);
    let t = transform.temperature().into_data().try_to_vec::<f32>().unwrap();
    assert!((t[0] - 1f32.exp()).abs() < 1e-5);
    assert!((t[1] - 100.0).abs() < 1e-3);
}

#[test]
fn bias_gathers_rows_of_the_table() {
    let device = Device::flex();
    let (transform, table, index) = setup(&device);
    let bias = transform.bias(table.clone(), index, 3, 4); // [2, 3, 4]
    let full = sigmoid(transform.cpb_mlp.fc2.forward(relu(transform.cpb_mlp.fc1.forward(table)))) * 16.0;
    let full = full.into_data().try_to_vec::<f32>().unwrap(); // [5, 2]
    let bias = bias.into_data().try_to_vec::<f32>().unwrap();
    for head in 0..2 {
        for pair in 0..12 {
            let row = pair * 7 % 5;
            // The fused linear sums in another order than Burn's: a few ulps apart.
            let (got, want) = (bias[head * 12 + pair], full[row * 2 + head]);
            assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "head {head}, pair {pair}: {got} against {want}");
        }
    }
}

/// The fused path and the naive one sum in different orders: f32 rounding differs by a few
/// ulps of values up to ~1 (1.2e-5 seen on a random draw, past an absolute 1e-5).
fn summation_order() -> Tolerance<f32> {
    Tolerance::rel_abs(1e-4, 1e-5)
}

#[test]
fn forward_matches_the_naive_computation() {
    use crate::model::tables::{ShiftMask, region_ids};
    let device = Device::flex();
    let (transform, _, _) = setup(&device);
    // 2 images of a 3 x 4 window partition, windows of 2 x 2 tokens shifted by 1: every
    // case of the interior / last column / last row split.
    let (images, windows) = (2, 12);
    let ids = region_ids(crate::Size { height: 6, width: 8 }, [2, 2], [1, 1]);
    let ids_t = Tensor::<2, Int>::from_data(TensorData::new(ids, [windows, 4]), &device);
    let mask = ShiftMask::new([3, 4], ids_t.clone(), ids_t);
    let (table, index) = window_index(&device);
    let q = Tensor::<4>::random([images * windows, 2, 4, 5], Distribution::Normal(0.0, 1.0), &device);
    let k = Tensor::<4>::random([images * windows, 2, 4, 5], Distribution::Normal(0.0, 1.0), &device);
    let v = Tensor::<4>::random([images * windows, 2, 4, 6], Distribution::Normal(0.0, 1.0), &device);
    let bias = transform.bias(table.clone(), index.tensor(), 4, 4);
    for shift in [None, Some(&mask)] {
        let got = transform.forward(q.clone(), k.clone(), v.clone(), transform.bias_per_entry(table.clone()), &index, shift);
        let expected = naive(&transform, q.clone(), k.clone(), v.clone(), bias.clone(), shift.map(|m| m.full()));
        assert_eq!(got.dims(), [images * windows, 2, 4, 6]);
        got.into_data().assert_approx_eq::<f32>(&expected.into_data(), summation_order());
    }
}

#[test]
fn single_row_and_single_column_partitions() {
    use crate::model::tables::{ShiftMask, region_ids};
    let device = Device::flex();
    let (transform, _, _) = setup(&device);
    let (table, index) = window_index(&device);
    let bias = transform.bias(table.clone(), index.tensor(), 4, 4);
    for (input, grid) in [([2, 8], [1, 4]), ([6, 2], [3, 1]), ([2, 2], [1, 1])] {
        let windows = grid[0] * grid[1];
        let ids = region_ids(crate::Size { height: input[0], width: input[1] }, [2, 2], [1, 1]);
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [windows, 4]), &device);
        let mask = ShiftMask::new(grid, ids.clone(), ids);
        let q = Tensor::<4>::random([windows, 2, 4, 3], Distribution::Normal(0.0, 1.0), &device);
        let got = transform.forward(q.clone(), q.clone(), q.clone(), transform.bias_per_entry(table.clone()), &index, Some(&mask));
        let expected = naive(&transform, q.clone(), q.clone(), q, bias.clone(), Some(mask.full()));
        got.into_data().assert_approx_eq::<f32>(&expected.into_data(), summation_order());
    }
}

/// The fused CPU kernel against its plain-ops twin (Burn's attention op) on shapes that
/// cross its 64-query blocks: windows of 10 x 9 query and 10 x 10 key tokens, masked by
/// region ids on the border windows only, the bias read through an index table.
#[test]
fn cpu_kernel_matches_its_plain_ops_twin() {
    use crate::model::cpu_attention;
    use crate::model::tables::ShiftMask;
    let device = Device::flex();
    let (heads, n_q, n_k, windows, entries) = (2, 90, 100, 4, 37);
    let ids = |n: usize| {
        // Window 3 (the last) has two regions; the others one.
        let values: Vec<i64> = (0..windows * n).map(|i| if i / n == 3 && i % n >= n / 2 { 1 } else { 0 }).collect();
        Tensor::<2, Int>::from_data(TensorData::new(values, [windows, n]), &device)
    };
    let mask = ShiftMask::new([2, 2], ids(n_q), ids(n_k));
    let random = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let (q, k, v) = (random([2 * windows, heads, n_q, 8]), random([2 * windows, heads, n_k, 8]), random([2 * windows, heads, n_k, 5]));
    let per_entry = Tensor::<2>::random([entries, heads], Distribution::Uniform(0.0, 16.0), &device);
    let values: Vec<u32> = (0..n_q * n_k).map(|i| (i * 7919 % entries) as u32).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(values.iter().map(|&i| i64::from(i)).collect(), [n_q * n_k]), &device);
    let bias = per_entry.clone().select(0, index.clone()).reshape([n_q, n_k, heads]).permute([2, 0, 1]);
    for shift in [None, Some(&mask)] {
        let fused = cpu_attention::attend(q.clone(), k.clone(), v.clone(), per_entry.clone(), &values, shift.map(ShiftMask::ids));
        let plain = attend_plain(q.clone(), k.clone(), v.clone(), bias.clone(), shift);
        assert_eq!(fused.dims(), [2 * windows, heads, n_q, 5]);
        fused.into_data().assert_approx_eq::<f32>(&plain.into_data(), summation_order());
    }
}

/// The cache computes a transform's per-entry bias once, keeps one entry per transform, and
/// is left alone under autodiff (where the bias must stay in the graph).
#[test]
fn per_entry_biases_are_computed_once_per_transform() {
    use crate::model::tables::CoordTable;
    let device = Device::flex();
    let (transform, coords, _) = setup(&device);
    let other = AffineTransformConfig::new(transform.num_heads()).init(&device);
    let table = CoordTable::new(coords.clone());
    let first = transform.cached_bias_per_entry(&table);
    first.clone().into_data().assert_approx_eq::<f32>(&transform.bias_per_entry(coords).into_data(), Tolerance::default());
    let again = transform.cached_bias_per_entry(&table);
    assert_eq!(again.into_data(), first.clone().into_data());
    assert_eq!(table.biases.len(), 1);
    let theirs = other.cached_bias_per_entry(&table);
    assert_eq!(table.biases.len(), 2);
    assert_ne!(theirs.into_data(), first.into_data(), "another transform's weights give another bias");

    let autodiff = device.clone().autodiff();
    let (transform, coords, _) = setup(&autodiff);
    let fresh = CoordTable::new(coords);
    let _ = transform.cached_bias_per_entry(&fresh);
    assert!(fresh.biases.is_empty(), "nothing cached under autodiff");
}
