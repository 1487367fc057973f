//! What identifies one version of a file without reading it: its
//! modification time, length and inode. The TLS certificate files and the
//! configuration file are watched by comparing stamps (a `stat` each time),
//! which also sees a Kubernetes volume swapping a symlink to a new file.

use std::{path::Path, time::SystemTime};

/// One version of a file, or `None` from [`FileStamp::of`] when it cannot
/// be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now (symlinks followed).
    pub(crate) fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}
