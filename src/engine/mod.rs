//! The pure MAPE-K engine: analysis, planning and knowledge as synchronous
//! functions over plain data. No I/O, no clock (times are passed in), no
//! randomness: the same input always gives the same output.

pub mod model;
