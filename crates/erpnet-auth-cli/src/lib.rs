//! The parts of the `erpnet-auth` tool that read what a token says and show
//! it: the command-line tool is the product, and this library is no stable
//! API. It exists so that the tool's fuzz targets (`fuzz/` in the
//! repository) run the very code that `erpnet-auth inspect` and
//! `erpnet-auth verify` run on untrusted tokens.

pub mod inspection;
pub mod output;
