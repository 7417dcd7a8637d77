//! File-system calls for goroutines: `std::fs`'s functions and types, each call run
//! through [`blocking`].
//!
//! A regular file has no readiness to wait for: a read that misses the page cache, an
//! `fsync`, an `open` on a slow or network file system simply blocks the OS thread in the
//! kernel. A `std::fs` call made directly on a goroutine therefore holds its P for as long
//! as the disk takes, and every goroutine queued on that P waits with it. The calls here
//! run as blocking work instead: when one lasts longer than a sysmon tick (~20 µs) while
//! other goroutines wait, its P is handed to another OS thread, and the goroutine goes on
//! on a free P once the call returns. A call that finishes quickly (the usual page-cache
//! hit) costs a few atomic operations more than the `std::fs` call.
//!
//! ```
//! gort::run(|| {
//!     let dir = std::env::temp_dir().join(format!("gort-fs-doc-{}", std::process::id()));
//!     gort::fs::create_dir_all(&dir).unwrap();
//!     let hs: Vec<_> = (0..10)
//!         .map(|i| {
//!             let path = dir.join(format!("{i}.txt"));
//!             gort::spawn(move || {
//!                 gort::fs::write(&path, format!("file {i}")).unwrap();
//!                 gort::fs::read_to_string(&path).unwrap()
//!             })
//!         })
//!         .collect();
//!     for (i, h) in hs.into_iter().enumerate() {
//!         assert_eq!(h.join().unwrap(), format!("file {i}"));
//!     }
//!     gort::fs::remove_dir_all(&dir).unwrap();
//! });
//! ```
//!
//! - The signatures are `std::fs`'s. [`File`], [`OpenOptions`], [`ReadDir`] and
//!   [`DirEntry`] wrap the std types so that their methods go through `blocking` too
//!   (`into_std` / `from_std` convert); [`Metadata`], [`Permissions`], [`FileType`] and
//!   [`FileTimes`] are std's own, since their methods make no system calls.
//! - Each `read` or `write` on a [`File`] is one blocking call, as each is one system
//!   call: wrap the file in `std::io::BufReader` / `BufWriter` for many small ones.
//! - Errors are std's `io::Error`s, unchanged; running out of descriptors (`EMFILE`) is
//!   an error like any other, never a panic.
//! - On a plain thread or outside any runtime, everything here is exactly its `std::fs`
//!   counterpart.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

use crate::blocking;

pub use std::fs::{FileTimes, FileType, Metadata, Permissions};

/// Reads the whole file at `path` (`std::fs::read`).
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    blocking(|| std::fs::read(path))
}

/// Reads the whole file at `path` as UTF-8 (`std::fs::read_to_string`).
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref();
    blocking(|| std::fs::read_to_string(path))
}

/// Creates or truncates the file at `path` and writes `contents` (`std::fs::write`).
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let (path, contents) = (path.as_ref(), contents.as_ref());
    blocking(|| std::fs::write(path, contents))
}

/// Opens the directory at `path` for listing (`std::fs::read_dir`); each step of the
/// returned iterator is a blocking call as well.
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let path = path.as_ref();
    blocking(|| std::fs::read_dir(path)).map(ReadDir)
}

/// Creates one directory (`std::fs::create_dir`).
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::create_dir(path))
}

/// Creates a directory and any missing parents (`std::fs::create_dir_all`).
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::create_dir_all(path))
}

/// Removes a file or symbolic link (`std::fs::remove_file`).
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::remove_file(path))
}

/// Removes an empty directory (`std::fs::remove_dir`).
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::remove_dir(path))
}

/// Removes a directory and everything in it (`std::fs::remove_dir_all`), as one
/// blocking call.
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::remove_dir_all(path))
}

/// Renames `from` to `to`, replacing `to` if it exists (`std::fs::rename`).
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    blocking(|| std::fs::rename(from, to))
}

/// Copies the contents and permissions of `from` to `to`; returns the bytes copied
/// (`std::fs::copy`).
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    let (from, to) = (from.as_ref(), to.as_ref());
    blocking(|| std::fs::copy(from, to))
}

/// Metadata of `path`, following symbolic links (`std::fs::metadata`).
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    blocking(|| std::fs::metadata(path))
}

/// Metadata of `path` itself, not following a final symbolic link
/// (`std::fs::symlink_metadata`).
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    blocking(|| std::fs::symlink_metadata(path))
}

/// The absolute path of `path` with every link resolved (`std::fs::canonicalize`).
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    blocking(|| std::fs::canonicalize(path))
}

/// Makes `link` a new name for the file at `original` (`std::fs::hard_link`).
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let (original, link) = (original.as_ref(), link.as_ref());
    blocking(|| std::fs::hard_link(original, link))
}

/// The target of the symbolic link at `path` (`std::fs::read_link`).
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    blocking(|| std::fs::read_link(path))
}

/// Changes the permissions of `path` (`std::fs::set_permissions`).
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::set_permissions(path, perm))
}

/// Whether something exists at `path` (following links): `Ok(false)` when it certainly
/// does not, an error when that cannot be told, e.g. for lack of permission
/// (`std::fs::exists`).
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    let path = path.as_ref();
    blocking(|| path.try_exists())
}

/// The same as [`exists`], under the name of `Path::try_exists`.
pub fn try_exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    exists(path)
}

/// An open file whose calls go through [`blocking`]: `std::fs::File`'s
/// methods, and `Read`, `Write` and `Seek` for `File` and `&File`.
///
/// Closing it (dropping it) is a blocking call too, since `close` can flush data on
/// network file systems.
pub struct File {
    // ManuallyDrop so that `Drop` can close it inside `blocking` and `into_std` can
    // move it out.
    inner: ManuallyDrop<std::fs::File>,
}

impl File {
    /// Opens `path` read-only (`std::fs::File::open`).
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref();
        blocking(|| std::fs::File::open(path)).map(File::from_std)
    }

    /// Opens `path` write-only, creating it or truncating it (`std::fs::File::create`).
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref();
        blocking(|| std::fs::File::create(path)).map(File::from_std)
    }

    /// Creates `path` read-write, failing if it exists (`std::fs::File::create_new`).
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref();
        blocking(|| std::fs::File::create_new(path)).map(File::from_std)
    }

    /// Options for opening a file in any mode (`std::fs::File::options`).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open std file (no system call).
    pub fn from_std(file: std::fs::File) -> File {
        File {
            inner: ManuallyDrop::new(file),
        }
    }

    /// Unwraps the std file, which then blocks its thread on every call.
    pub fn into_std(self) -> std::fs::File {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never dropped, so `inner` is taken exactly once and not used
        // after.
        unsafe { ManuallyDrop::take(&mut me.inner) }
    }

    /// The std file, for methods not wrapped here (calls on it block the thread).
    pub fn as_std(&self) -> &std::fs::File {
        &self.inner
    }

    /// The file's metadata (`fstat`).
    pub fn metadata(&self) -> io::Result<Metadata> {
        blocking(|| self.inner.metadata())
    }

    /// Truncates or extends the file to `size` bytes.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        blocking(|| self.inner.set_len(size))
    }

    /// Flushes data and metadata to the device (`fsync`).
    pub fn sync_all(&self) -> io::Result<()> {
        blocking(|| self.inner.sync_all())
    }

    /// Flushes data, and only the metadata needed to read it back, to the device
    /// (`fdatasync`).
    pub fn sync_data(&self) -> io::Result<()> {
        blocking(|| self.inner.sync_data())
    }

    /// A second handle to the same open file, sharing its cursor (`dup`).
    pub fn try_clone(&self) -> io::Result<File> {
        blocking(|| self.inner.try_clone()).map(File::from_std)
    }

    /// Changes the file's permissions (`fchmod`).
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        blocking(|| self.inner.set_permissions(perm))
    }

    /// Changes the file's access and modification times.
    pub fn set_times(&self, times: FileTimes) -> io::Result<()> {
        blocking(|| self.inner.set_times(times))
    }

    /// Changes the file's modification time.
    pub fn set_modified(&self, time: std::time::SystemTime) -> io::Result<()> {
        blocking(|| self.inner.set_modified(time))
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: `inner` is taken here once, and `self` is gone after `drop`;
        // `into_std` never lets this run for a file it has taken.
        let f = unsafe { ManuallyDrop::take(&mut self.inner) };
        blocking(move || drop(f));
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File::from_std(file)
    }
}

impl From<File> for std::fs::File {
    fn from(file: File) -> std::fs::File {
        file.into_std()
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.read_vectored(bufs))
    }

    // Whole-file reads are one blocking call rather than one per chunk.
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.read_to_end(buf))
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.read_to_string(buf))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.read_exact(buf))
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.write_vectored(bufs))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.write_all(buf))
    }

    /// A no-op, as for `std::fs::File` (there is no user-space buffer; see `sync_all`).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let mut f: &std::fs::File = &self.inner;
        blocking(|| f.seek(pos))
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (&*self).read_exact(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

#[cfg(unix)]
mod unix_fd {
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

    use super::File;

    impl AsFd for File {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.inner.as_fd()
        }
    }

    impl AsRawFd for File {
        fn as_raw_fd(&self) -> RawFd {
            self.inner.as_raw_fd()
        }
    }

    impl From<OwnedFd> for File {
        fn from(fd: OwnedFd) -> File {
            File::from_std(fd.into())
        }
    }

    impl From<File> for OwnedFd {
        fn from(file: File) -> OwnedFd {
            file.into_std().into()
        }
    }
}

/// `std::fs::OpenOptions` whose `open` goes through [`blocking`] and
/// returns a gort [`File`].
///
/// Options the builder methods here do not cover can be set on a `std::fs::OpenOptions`
/// (with any extension trait) and converted with `From`.
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// All options off (`std::fs::OpenOptions::new`).
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Open for appending: every write goes to the end of the file.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Truncate the file to 0 bytes on opening.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// The permission bits of a newly created file (before the umask).
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Extra `open(2)` flags, e.g. `libc::O_NOFOLLOW`.
    #[cfg(unix)]
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens `path` with these options.
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let path = path.as_ref();
        blocking(|| self.0.open(path)).map(File::from_std)
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(o: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(o)
    }
}

/// The entries of a directory ([`read_dir`]); each `next` is a blocking call, since it
/// may have to read more entries from the file system.
#[derive(Debug)]
pub struct ReadDir(std::fs::ReadDir);

impl ReadDir {
    /// Unwraps the std iterator, which then blocks its thread when it reads.
    pub fn into_std(self) -> std::fs::ReadDir {
        self.0
    }
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        blocking(|| self.0.next()).map(|r| r.map(DirEntry))
    }
}

/// One entry of a [`ReadDir`]; `metadata` and `file_type` are blocking calls.
#[derive(Debug)]
pub struct DirEntry(std::fs::DirEntry);

impl DirEntry {
    /// The directory's path joined with this entry's name (no system call).
    pub fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// The entry's name within its directory (no system call).
    pub fn file_name(&self) -> OsString {
        self.0.file_name()
    }

    /// The entry's metadata, not following a symbolic link (`fstatat`).
    pub fn metadata(&self) -> io::Result<Metadata> {
        blocking(|| self.0.metadata())
    }

    /// The entry's type; usually known from the listing, else a `fstatat`.
    pub fn file_type(&self) -> io::Result<FileType> {
        blocking(|| self.0.file_type())
    }

    /// The std entry.
    pub fn into_std(self) -> std::fs::DirEntry {
        self.0
    }
}
