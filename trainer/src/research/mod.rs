//! What chose the shipped recipe, kept runnable: the levers measured on the validation posters
//! (`onesheet levers`), the head's random search (`onesheet tune`), the seed documents'
//! systems the report reproduces, and the small CNN they were compared against.

pub mod levers;
pub mod seeds;
pub mod small_cnn;
pub mod tune;
