#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Files replaced atomically: readers see the old content or the new, never a mix, and after a
/// crash the new content is either complete or absent. Written by hand on the C library (no
/// Foundation), so the exec'd CNI plugin can use it too.
public enum AtomicFile {
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var operation: String
        public var path: String
        public var errno: Int32
        public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    }

    /// Writes `bytes` to a temporary file next to `path`, fsyncs it, gives it `mode`, renames it
    /// over `path` and fsyncs the directory, so the rename itself survives a power cut.
    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o644) throws(Failure) {
        let contiguous = Array(bytes)
        try replace(path, mode: mode) { (fd, temporary) throws(Failure) in
            try writeAll(fd, contiguous, count: contiguous.count, path: temporary)
        }
    }

    /// Replaces `path` with a copy of `source`, as ``write(_:to:mode:)`` does, streaming it through
    /// a small buffer: a plugin binary is tens of megabytes, and reading it whole would make that
    /// the daemon's peak memory.
    public static func copy(from source: String, to path: String, mode: mode_t = 0o644) throws(Failure) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw Failure(operation: "open", path: source, errno: errno) }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        try replace(path, mode: mode) { (fd, temporary) throws(Failure) in
            while true {
                let count = try readFully(input, into: &buffer, path: source)
                try writeAll(fd, buffer, count: count, path: temporary)
                if count < chunkSize { return }
            }
        }
    }

    /// Whether both files exist and hold the same bytes, compared a chunk at a time (sizes first).
    public static func sameContents(_ first: String, _ second: String) throws(Failure) -> Bool {
        let a = open(first, O_RDONLY | O_CLOEXEC)
        guard a >= 0 else {
            if errno == ENOENT { return false }
            throw Failure(operation: "open", path: first, errno: errno)
        }
        defer { close(a) }
        let b = open(second, O_RDONLY | O_CLOEXEC)
        guard b >= 0 else {
            if errno == ENOENT { return false }
            throw Failure(operation: "open", path: second, errno: errno)
        }
        defer { close(b) }
        var infoA = stat(), infoB = stat()
        guard fstat(a, &infoA) == 0 else { throw Failure(operation: "stat", path: first, errno: errno) }
        guard fstat(b, &infoB) == 0 else { throw Failure(operation: "stat", path: second, errno: errno) }
        guard infoA.st_size == infoB.st_size else { return false }
        var bufferA = [UInt8](repeating: 0, count: chunkSize), bufferB = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = try readFully(a, into: &bufferA, path: first)
            guard try readFully(b, into: &bufferB, path: second) == count, bufferA[..<count] == bufferB[..<count] else { return false }
            if count < chunkSize { return true }
        }
    }

    private static let chunkSize = 65536

    /// The temporary-file dance shared by every replacement: `fill` writes the content.
    private static func replace(_ path: String, mode: mode_t, fill: (Int32, String) throws(Failure) -> Void) throws(Failure) {
        let directory = Self.directory(of: path)
        let temporary = "\(directory)/.\(Self.name(of: path)).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(operation: "create", path: temporary, errno: errno) }
        var closed = false
        defer { if !closed { close(fd); unlink(temporary) } }
        try fill(fd, temporary)
        // The umask may have narrowed `mode` at creation.
        guard fchmod(fd, mode) == 0 else { throw Failure(operation: "chmod", path: temporary, errno: errno) }
        guard fsync(fd) == 0 else { throw Failure(operation: "fsync", path: temporary, errno: errno) }
        closed = true
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw Failure(operation: "rename to", path: path, errno: error)
        }
        syncDirectory(directory)
    }

    /// Writes the first `count` bytes of `bytes`.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], count: Int, path: String) throws(Failure) {
        var written = 0
        while written < count {
            let result = bytes.withUnsafeBytes { cWrite(fd, $0.baseAddress! + written, count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "write", path: path, errno: errno)
            }
            written += result
        }
    }

    /// Fills `buffer` unless the file ends first; returns how much it holds.
    private static func readFully(_ fd: Int32, into buffer: inout [UInt8], path: String) throws(Failure) -> Int {
        var filled = 0
        while filled < buffer.count {
            let count = buffer.withUnsafeMutableBytes { cRead(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            filled += count
        }
        return filled
    }

    public static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws(Failure) {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// The whole file, or nil when it does not exist.
    public static func read(_ path: String) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw Failure(operation: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            let count = try readFully(fd, into: &buffer, path: path)
            bytes.append(contentsOf: buffer[..<count])
            if count < chunkSize { return bytes }
        }
    }

    /// Removes `path` (a missing file is not an error) and makes the removal durable.
    public static func remove(_ path: String) throws(Failure) {
        guard unlink(path) == 0 || errno == ENOENT else { throw Failure(operation: "remove", path: path, errno: errno) }
        syncDirectory(directory(of: path))
    }

    /// Creates `path` (with `mode`) and missing parents (0755). Existing directories are left as
    /// they are: nothing outside vpcnet's own files is ever chmod'ed.
    public static func makeDirectory(_ path: String, mode: mode_t) throws(Failure) {
        var prefix = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += "/" + component
            let last = index == components.count - 1
            if mkdir(prefix, last ? mode : 0o755) == 0 {
                // The umask may have narrowed it.
                if last, chmod(prefix, mode) != 0 { throw Failure(operation: "chmod", path: prefix, errno: errno) }
            } else if errno != EEXIST {
                throw Failure(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }

    /// A directory only its owner can enter (state, spool, the socket's): created 0700 when
    /// missing; an existing one must be a real directory of this user with no group or other
    /// access, or this fails rather than trusting (or changing) it.
    public static func requirePrivateDirectory(_ path: String) throws(Failure) {
        try makeDirectory(path, mode: 0o700)
        var info = stat()
        guard lstat(path, &info) == 0 else { throw Failure(operation: "stat", path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid(), info.st_mode & 0o077 == 0 else {
            throw Failure(operation: "use as a private directory (it must be a directory owned by this user, mode 0700)", path: path, errno: EPERM)
        }
    }

    /// Removes temporary files that ``write(_:to:mode:)`` left in `directory` because its process
    /// died between creating and renaming them, when older than `seconds`. Returns how many.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String, olderThanSeconds seconds: Int) -> Int {
        guard let stream = opendir(directory) else { return 0 }
        defer { closedir(stream) }
        var removed = 0
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix("."), name.hasSuffix(".tmp") else { continue }
            let path = "\(directory)/\(name)"
            var info = stat()
            guard stat(path, &info) == 0, Int(now.tv_sec - info.st_mtim.tv_sec) >= seconds else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    private static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

// At file scope these names are the C library's, not AtomicFile's.
private func cWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
private func cRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
