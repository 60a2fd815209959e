//! [`Intermediates`]: named tensors captured during a forward pass, for parity checks against
//! the reference. Capturing is opt-in per call ([`Probe`] is `None` in the plain forward), so
//! it costs nothing otherwise.

use burn::tensor::Tensor;

/// A captured tensor, in the layout the reference fixture documents for its name.
#[derive(Debug, Clone)]
pub enum Intermediate {
    /// Token layout `[B, L, C]`.
    Tokens(Tensor<3>),
    /// Map layout, `[B, C, H, W]` or `[B, H, W, C]` depending on the name.
    Map(Tensor<4>),
}

impl Intermediate {
    /// The shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Intermediate::Tokens(t) => t.dims().to_vec(),
            Intermediate::Map(t) => t.dims().to_vec(),
        }
    }

    /// The values flattened row-major, as a lazy tensor.
    pub fn flatten(&self) -> Tensor<1> {
        let n = self.dims().iter().product::<usize>();
        match self {
            Intermediate::Tokens(t) => t.clone().reshape([n]),
            Intermediate::Map(t) => t.clone().reshape([n]),
        }
    }
}

/// Tensors captured during one forward pass, in capture order, under the reference module
/// path names (`conv_first`, `norm_start`, `layers.0.blocks.0.attn.anchor`,
/// `layers.0.blocks.0.attn`, `layers.0.blocks.0.conv`, `layers.0.blocks.0.mlp`,
/// `layers.0.blocks.0`, `layers.0`, `norm_end`, `conv_after_body`, ...).
#[derive(Debug, Clone, Default)]
pub struct Intermediates {
    /// `(name, tensor)` pairs.
    pub entries: Vec<(String, Intermediate)>,
}

impl Intermediates {
    /// The tensor captured under `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Intermediate> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// A handle that records into [`Intermediates`] under a name prefix.
#[derive(Debug)]
pub struct Probe<'a> {
    sink: &'a mut Intermediates,
    prefix: String,
}

impl<'a> Probe<'a> {
    /// A probe recording into `sink` with no prefix.
    pub fn new(sink: &'a mut Intermediates) -> Self {
        Self { sink, prefix: String::new() }
    }

    /// A probe for a sub-module: names get `name.` prepended.
    pub fn child(&mut self, name: &str) -> Probe<'_> {
        let prefix = self.name(name);
        Probe { sink: self.sink, prefix }
    }

    fn name(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) }
    }

    /// Records a token tensor `[B, L, C]`.
    pub fn tokens(&mut self, name: &str, tensor: &Tensor<3>) {
        let name = self.name(name);
        self.sink.entries.push((name, Intermediate::Tokens(tensor.clone())));
    }

    /// Records a 4-D map.
    pub fn map(&mut self, name: &str, tensor: &Tensor<4>) {
        let name = self.name(name);
        self.sink.entries.push((name, Intermediate::Map(tensor.clone())));
    }
}

/// Records `tensor` as tokens when a probe is present.
pub(crate) fn record_tokens(probe: &mut Option<Probe<'_>>, name: &str, tensor: &Tensor<3>) {
    if let Some(probe) = probe.as_mut() {
        probe.tokens(name, tensor);
    }
}

/// Records a 4-D map when a probe is present.
pub(crate) fn record_map(probe: &mut Option<Probe<'_>>, name: &str, tensor: &Tensor<4>) {
    if let Some(probe) = probe.as_mut() {
        probe.map(name, tensor);
    }
}

/// A child probe for a sub-module when a probe is present.
pub(crate) fn child<'b>(probe: &'b mut Option<Probe<'_>>, name: &str) -> Option<Probe<'b>> {
    probe.as_mut().map(|p| p.child(name))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn names_nest() {
        let device = Device::flex();
        let mut sink = Intermediates::default();
        {
            let mut root = Some(Probe::new(&mut sink));
            record_map(&mut root, "conv_first", &Tensor::zeros([1, 2, 3, 4], &device));
            let mut block = child(&mut root, "layers.0");
            let mut attn = child(&mut block, "blocks.1");
            record_tokens(&mut attn, "attn", &Tensor::zeros([1, 5, 2], &device));
        }
        let names: Vec<_> = sink.entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["conv_first", "layers.0.blocks.1.attn"]);
        assert_eq!(sink.get("layers.0.blocks.1.attn").unwrap().dims(), vec![1, 5, 2]);
    }
}
