// SPDX-License-Identifier: BSD-2-Clause-Patent
//! File input/output for the tools: whole-file reads with a size cap, and atomic writes
//! (temporary file in the destination directory, then rename) so that a failed run never
//! leaves a partial output behind. Paths come from the command line (trusted), contents
//! do not.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Largest input the tools read (images are at most 16 MiB; this leaves room for odd inputs
/// without reading a multi-gigabyte file by mistake).
pub const MAX_INPUT_SIZE: u64 = 256 << 20;

/// An I/O failure, with the path and what was being done.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: io::Error,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for FileError {}

fn err(path: &Path, action: &'static str, source: io::Error) -> FileError {
    FileError {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Reads a whole file, refusing files larger than [`MAX_INPUT_SIZE`].
pub fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    let file = fs::File::open(path).map_err(|e| err(path, "open", e))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(path, "read", e))?;
    if bytes.len() as u64 > MAX_INPUT_SIZE {
        let msg = format!("file is larger than {MAX_INPUT_SIZE} bytes");
        return Err(err(
            path,
            "read",
            io::Error::new(io::ErrorKind::InvalidData, msg),
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically: a temporary file next to it is written, synced and
/// renamed over `path`. On failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let name = path.file_name().ok_or_else(|| {
        err(
            path,
            "write",
            io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| err(&tmp, "create", e))?;
        f.write_all(bytes).map_err(|e| err(&tmp, "write", e))?;
        f.sync_all().map_err(|e| err(&tmp, "sync", e))?;
        fs::rename(&tmp, path).map_err(|e| err(path, "replace", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("td-shim-tools-file-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = scratch("ok");
        let out = d.join("final.bin");
        fs::write(&out, b"old").unwrap();
        write_atomic(&out, b"new contents").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new contents");
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("final.bin")]);
        assert_eq!(read(&out).unwrap(), b"new contents");
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn failures_name_the_path() {
        let d = scratch("bad");
        let missing = d.join("no-such-dir").join("x.bin");
        let e = write_atomic(&missing, b"x").unwrap_err();
        assert!(e.to_string().contains("no-such-dir"), "{e}");
        assert!(!d.join("no-such-dir").exists());
        let e = read(&d.join("absent")).unwrap_err();
        assert!(e.to_string().starts_with("cannot open "), "{e}");
        let _ = fs::remove_dir_all(&d);
    }
}
