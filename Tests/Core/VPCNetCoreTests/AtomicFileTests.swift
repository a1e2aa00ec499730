import Foundation
import Testing
import VPCNetCore

@Suite struct AtomicFileTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-atomic-\(UUID())").path

    @Test func writeReplacesWholeAndKeepsTheMode() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AtomicFile.makeDirectory(directory + "/a/b", mode: 0o700)
        let path = directory + "/a/b/file"
        #expect(try AtomicFile.read(path) == nil)
        try AtomicFile.write("first", to: path, mode: 0o600)
        try AtomicFile.write("second, longer", to: path, mode: 0o600)
        #expect(try AtomicFile.read(path).map { String(decoding: $0, as: UTF8.self) } == "second, longer")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let directoryMode = try FileManager.default.attributesOfItem(atPath: directory + "/a/b")[.posixPermissions] as? Int
        #expect(directoryMode == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/a/b") == ["file"], "no temporary file left behind")
        try AtomicFile.remove(path)
        try AtomicFile.remove(path)
        #expect(try AtomicFile.read(path) == nil)
    }

    @Test func aFailedWriteLeavesTheOldContent() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AtomicFile.makeDirectory(directory, mode: 0o755)
        let path = directory + "/file"
        try AtomicFile.write("kept", to: path)
        #expect(throws: AtomicFile.Failure.self) { try AtomicFile.write("lost", to: directory + "/missing/file") }
        // Renaming over a directory fails after the temporary file was written: it is cleaned up.
        try FileManager.default.createDirectory(atPath: directory + "/dir/x", withIntermediateDirectories: true)
        #expect(throws: AtomicFile.Failure.self) { try AtomicFile.write("lost", to: directory + "/dir") }
        #expect(try AtomicFile.read(path).map { String(decoding: $0, as: UTF8.self) } == "kept")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory)) == ["file", "dir"])
    }

    /// Sizes around the copy's 64 KiB chunk: empty, one byte, a chunk exactly, a chunk and a bit.
    @Test(arguments: [0, 1, 65536, 65536 * 3 + 17])
    func copyAndCompareStreamWholeFiles(size: Int) throws {
        let directory = directory + "-\(size)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AtomicFile.makeDirectory(directory, mode: 0o755)
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 251) }
        try AtomicFile.write(content, to: directory + "/source")
        try AtomicFile.write("old", to: directory + "/target", mode: 0o644)
        #expect(try AtomicFile.sameContents(directory + "/source", directory + "/target") == false)
        try AtomicFile.copy(from: directory + "/source", to: directory + "/target", mode: 0o755)
        #expect(try AtomicFile.read(directory + "/target") == content)
        #expect((try FileManager.default.attributesOfItem(atPath: directory + "/target")[.posixPermissions] as? Int) == 0o755)
        #expect(try AtomicFile.sameContents(directory + "/source", directory + "/target"))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory)) == ["source", "target"], "no temporary file left behind")
        guard size > 0 else { return }
        // Same size, one byte different in the last chunk.
        var changed = content
        changed[size - 1] ^= 0xff
        try AtomicFile.write(changed, to: directory + "/target")
        #expect(try AtomicFile.sameContents(directory + "/source", directory + "/target") == false)
    }

    @Test func compareAndCopyOfMissingFiles() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AtomicFile.makeDirectory(directory, mode: 0o755)
        try AtomicFile.write("kept", to: directory + "/target")
        #expect(try AtomicFile.sameContents(directory + "/missing", directory + "/target") == false)
        #expect(try AtomicFile.sameContents(directory + "/target", directory + "/missing") == false)
        #expect(throws: AtomicFile.Failure.self) { try AtomicFile.copy(from: directory + "/missing", to: directory + "/target") }
        #expect(try AtomicFile.read(directory + "/target").map { String(decoding: $0, as: UTF8.self) } == "kept")
    }
}

@Suite struct AtomicFileTemporaryTests {
    @Test func staleTemporariesAreRemovedAndFreshOnesKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vpcnet-stale-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AtomicFile.makeDirectory(directory, mode: 0o700)
        try AtomicFile.write("real", to: directory + "/state.json")
        try AtomicFile.write("half", to: directory + "/.state.json.1.2.tmp")
        let old = Date(timeIntervalSinceNow: -600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: directory + "/.state.json.1.2.tmp")
        try AtomicFile.write("in flight", to: directory + "/.state.json.3.4.tmp")
        #expect(AtomicFile.removeStaleTemporaries(in: directory, olderThanSeconds: 60) == 1)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory)) == ["state.json", ".state.json.3.4.tmp"])
    }
}
