//! The tiling scheduler: any image size within the GPU's limits, blended without seams.

pub mod blend;
pub mod geometry;
pub mod lanes;
pub mod memory;
pub mod run;
