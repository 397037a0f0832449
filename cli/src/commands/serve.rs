//! `onesheet serve`: [`onesheet_server`], as `onesheet-serve` runs it.

pub use onesheet_server::cli::ServeArgs as Args;
pub use onesheet_server::cli::serve as run;
