//! abibot guards the kernel module ABI that Linux distribution packaging
//! repositories promise: modules built against ABI name N must keep loading on
//! every later kernel that still calls itself N.
//!
//! Data flows one way: reference files are parsed ([`formats`]) into the model
//! ([`symbols`]), compared ([`compare`], with [`ignore`] rules) into plain
//! results, and rendered ([`report`]) by the command line ([`cli`]).

pub mod bisect;
pub mod cli;
pub mod compare;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod elf;
pub mod findings;
pub mod forge;
pub mod formats;
pub mod history;
pub mod ignore;
pub mod layouts;
pub mod loadcheck;
pub mod report;
pub mod state;
pub mod symbols;
