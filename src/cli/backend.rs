//! Choosing the device for `grl restore`, and its memory limits.

use burn::tensor::{Device, DeviceKind};

use super::Backend;
use crate::adapter::is_software;
use crate::tiling::memory::MemoryLimits;

/// Memory a native forward may use: generous, the CPU backend has the machine's RAM.
const CPU_BUDGET: u64 = 4 << 30;
/// Memory a forward on a GPU may use by default.
pub(super) const GPU_BUDGET: u64 = 1 << 30;

/// A device, its name, and its limits.
pub struct Chosen {
    pub device: Device,
    pub name: String,
    pub limits: MemoryLimits,
}

fn cpu() -> Chosen {
    Chosen {
        device: Device::flex(),
        name: "cpu (Burn flex)".into(),
        limits: MemoryLimits { max_buffer_bytes: u64::MAX, budget_bytes: CPU_BUDGET },
    }
}

/// `Auto` takes wgpu only on a hardware adapter: on a software one (llvmpipe, see
/// [`crate::adapter`]) the CPU backend is faster.
pub fn choose(backend: Backend) -> Result<Chosen, String> {
    if backend == Backend::Cpu {
        return Ok(cpu());
    }
    let started = Device::wgpu_options().device_kind(DeviceKind::DefaultDevice).init_with_setup();
    let (device, setup) = match started {
        Ok(pair) => pair,
        Err(e) if backend == Backend::Auto => {
            eprintln!("grl: no wgpu adapter ({e}); using the CPU");
            return Ok(cpu());
        }
        Err(e) => return Err(format!("cannot start wgpu: {e}")),
    };
    let info = setup.adapter.get_info();
    let is_cpu = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
    if backend == Backend::Auto && is_software(is_cpu, &[&info.name, &info.driver, &info.driver_info]) {
        let name = format!("cpu (Burn flex; wgpu's {} is a software adapter, slower)", info.name);
        return Ok(Chosen { name, ..cpu() });
    }
    Ok(Chosen {
        device,
        name: format!("wgpu: {} ({:?})", info.name, info.backend),
        limits: MemoryLimits::from_wgpu(&setup.device.limits(), GPU_BUDGET),
    })
}
