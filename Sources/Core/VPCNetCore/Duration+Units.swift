/// `Duration` in the units timers, sleeps, clocks and settings take.
extension Duration {
    public var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
    public var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
