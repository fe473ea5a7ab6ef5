//! What several fuzz targets share: in-memory stores for the targets that
//! drive whole services.

pub mod memory;
