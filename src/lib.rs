//! abibot guards the kernel module ABI that Linux distribution packaging
//! repositories promise: modules built against ABI name N must keep loading on
//! every later kernel that still calls itself N.
//!
//! Data flows one way: git objects ([`history`]) are read through a
//! distribution's [`layouts`] into reference sets ([`symbols`], parsed by
//! [`formats`]), compared ([`compare`], with [`ignore`] rules) into
//! [`findings`], rendered ([`report`]) and handed to a sink: stdout, or a
//! forge ([`forge`]) through the restart-safe [`daemon`] and its [`state`].
//! [`pipeline`] is the one place that chain is assembled for a repository,
//! from one typed description of it, for every command and the daemon.
//! [`elf`] and [`loadcheck`] answer the same questions from kernel binaries;
//! [`bisect`] finds where a change happened; [`compat`] says where modules
//! load along a history. [`cli`] maps commands onto all of it; [`config`] is
//! the daemon's configuration; [`demo`] the first run.

#![warn(missing_docs)]
#![warn(clippy::too_many_lines)]

pub mod bisect;
pub mod cli;
pub mod compare;
pub mod compat;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod dwarf;
pub mod elf;
pub mod explain;
pub mod findings;
pub mod forge;
pub mod formats;
pub mod git_error;
pub mod history;
pub mod ignore;
pub mod input;
pub mod layouts;
pub mod loadcheck;
pub mod picture;
pub mod pipeline;
pub mod report;
pub mod secrets;
pub mod state;
pub mod symbols;
pub mod symtypes;
