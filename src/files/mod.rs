//! The native tools' file handling (feature `native`): every file a user names is read within
//! a limit ([`read`]), and every file a kill must not corrupt is written under a temporary name
//! and renamed ([`write`]).

pub mod read;
pub mod write;

pub use read::ReadError;
pub use write::WriteError;
