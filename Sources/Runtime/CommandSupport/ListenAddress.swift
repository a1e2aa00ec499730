import ArgumentParser
import Foundation

/// Parses `HOST:PORT` (IPv6 hosts in brackets, `[::1]:8080`); `option` names the flag in errors.
public func listenAddress(_ text: String, option: String = "--listen") throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port),
          colon > text.startIndex else {
        throw ValidationError("\(option) must be HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080, got \(text)")
    }
    return (String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
}
