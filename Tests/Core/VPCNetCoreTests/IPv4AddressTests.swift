import PropertyBased
import Testing
import VPCNetCore

@Suite struct IPv4AddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)), ("255.255.255.255", UInt32.max), ("10.0.1.5", 0x0A00_0105),
        ("169.254.169.254", 0xA9FE_A9FE), ("192.168.0.10", 0xC0A8_000A),
    ])
    func parsesDottedQuads(text: String, value: UInt32) throws {
        let address = try IPv4Address(parsing: text)
        #expect(address.rawValue == value)
        #expect(address.description == text)
    }

    @Test(arguments: [
        "", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-4", "01.2.3.4", "1.2.3.04", "1..2.3", ".1.2.3",
        "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/32", "0x1.2.3.4", "::1", "1.2.3.4444", "999999999999.1.1.1", "１.2.3.4",
    ])
    func rejectsMalformedAddresses(text: String) {
        #expect(IPv4Address(text) == nil)
        #expect(throws: IPv4ParseError.self) { try IPv4Address(parsing: text) }
    }

    @Test func errorNamesTheInput() {
        #expect(throws: IPv4ParseError(input: "10.0.0.256", expected: "an IPv4 address like 10.0.1.5")) {
            try IPv4Address(parsing: "10.0.0.256")
        }
    }

    @Test func textRoundTripsForEveryAddress() async {
        await propertyCheck(count: 2000, input: Gen<UInt32>.value()) { raw in
            let address = IPv4Address(rawValue: raw)
            #expect(IPv4Address(address.description) == address)
            let (a, b, c, d) = address.octets
            #expect(IPv4Address(a, b, c, d) == address)
        }
    }

    @Test func orderFollowsNumericValue() async {
        await propertyCheck(count: 500, input: Gen<UInt32>.value(), Gen<UInt32>.value()) { x, y in
            #expect((IPv4Address(rawValue: x) < IPv4Address(rawValue: y)) == (x < y))
        }
    }

    @Test func advancingStaysInsideTheAddressSpace() {
        let top = IPv4Address(rawValue: .max)
        #expect(top.advanced(by: 1) == nil)
        #expect(IPv4Address(rawValue: 0).advanced(by: -1) == nil)
        #expect(IPv4Address(10, 0, 0, 255).advanced(by: 1) == IPv4Address(10, 0, 1, 0))
    }
}
