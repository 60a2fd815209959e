//! What the fused autodiff operations ([`super::autodiff_softmax`], [`super::autodiff_gelu`],
//! [`super::autodiff_matmul`]) share: a training tensor's primitive on Burn's CPU backend under
//! autodiff, an operation's record in the graph, its values as one contiguous f32 run, and new
//! backend tensors made from values without a copy.

use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, NodeGuard, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, BackendTypes, Flex};
use burn::tensor::{DType, Shape, Tensor, TensorData};

use super::kernels;

/// A float tensor of Burn's CPU backend under autodiff (value, graph node).
pub type AutodiffTensor = <Autodiff<Flex> as BackendTypes>::FloatTensorPrimitive;

/// `x`'s primitive where the fused training operations apply to it
/// ([`kernels::fused_cpu_training`], Burn's CPU backend under autodiff, f32), else `None`.
pub fn primitive<const D: usize>(x: &Tensor<D>) -> Option<AutodiffTensor> {
    if !kernels::fused_cpu_training(&x.device()) {
        return None;
    }
    let primitive = x.clone().try_into_primitive::<Autodiff<Flex>>().ok()?;
    (primitive.primitive().dtype() == DType::F32).then_some(primitive)
}

/// The tensor of a primitive made by a fused operation.
pub fn tensor<const D: usize>(primitive: AutodiffTensor) -> Tensor<D> {
    Tensor::from_primitive::<Autodiff<Flex>>(primitive)
}

/// `output`, computed by `op` from the tensors whose graph nodes are `inputs`, recorded in the
/// graph with the `state` its backward reads (dropped where no input needs a gradient).
pub fn record<O: Backward<Flex, N>, const N: usize>(op: O, inputs: [NodeGuard; N], state: O::State, output: FlexTensor) -> AutodiffTensor {
    match op.prepare::<NoCheckpointing>(inputs).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

/// `t` itself where its values are one contiguous f32 run, else a contiguous copy.
pub fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t.clone() } else { t.to_contiguous() }
}

/// The values of a [`contiguous`] f32 tensor.
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// A backend tensor holding `values` (taken, not copied) in `shape`.
pub fn from_values(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The shape of a backend tensor.
pub fn shape(t: &FlexTensor) -> Shape {
    t.layout().shape().clone()
}
