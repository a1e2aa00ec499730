// vpcnet-ipam: the CNI IPAM plugin, exec'd by the container runtime (through ptp) for every pod.
// Deliberately thin and Foundation-free: all behaviour is in the CNI module (IPAMPlugin).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CNIPlugin

var environment: [String: String] = [:]
var entry = environ
while let pointer = entry.pointee {
    let text = String(cString: pointer)
    if let equals = text.firstIndex(of: "=") { environment[String(text[..<equals])] = String(text[text.index(after: equals)...]) }
    entry += 1
}

// Stdin, bounded: one byte more than the limit is enough to reject it.
var input: [UInt8] = []
var buffer = [UInt8](repeating: 0, count: 65_536)
while input.count <= IPAMConfiguration.maximumInputBytes {
    let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
    if count < 0 && errno == EINTR { continue }
    if count <= 0 { break }
    input += buffer[..<count]
}

let outcome = IPAMPlugin().run(environment: environment, stdin: input)
if !outcome.output.isEmpty {
    let text = outcome.output + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
}
exit(outcome.exitCode)
