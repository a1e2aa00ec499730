import Kubernetes
import PropertyBased
import Testing
import VPCNetCore

@Suite struct PatchTests {
    static func json(_ text: String) -> JSONValue { try! JSONValue(parsing: Array(text.utf8)) }

    /// RFC 7386, Appendix A: every example.
    @Test(arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, "null", "null"),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"a":1,"e":null}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func mergePatchFollowsRFC7386(original: String, patch: String, result: String) {
        #expect(Self.json(original).mergePatched(with: Self.json(patch)) == Self.json(result))
    }

    /// RFC 6902, Appendix A (the examples with a defined result).
    @Test(arguments: [
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#, #"{"baz":"qux","foo":"bar"}"#),
        (#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#, #"{"foo":["bar","qux","baz"]}"#),
        (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#, #"{"foo":"bar"}"#),
        (#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#, #"{"foo":["bar","baz"]}"#),
        (#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#, #"{"baz":"boo","foo":"bar"}"#),
        (#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#, #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
         #"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#),
        (#"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#, #"{"foo":["all","cows","eat","grass"]}"#),
        (#"{"baz":"qux","foo":["a",2,"c"]}"#, #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#,
         #"{"baz":"qux","foo":["a",2,"c"]}"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#, #"{"foo":"bar","child":{"grandchild":{}}}"#),
        (#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#, #"{"foo":["bar",["abc","def"]]}"#),
        (#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10}]"#, #"{"/":9,"~1":10}"#),
        (#"{"metadata":{"labels":{"a/b":"c"}}}"#, #"[{"op":"remove","path":"/metadata/labels/a~1b"}]"#, #"{"metadata":{"labels":{}}}"#),
    ])
    func jsonPatchFollowsRFC6902(original: String, patch: String, result: String) throws {
        #expect(try Self.json(original).jsonPatched(with: Self.json(patch)) == Self.json(result))
    }

    @Test(arguments: [
        (#"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#),
        (#"{"foo":"bar"}"#, #"[{"op":"remove","path":"/nothing"}]"#),
        (#"{"foo":[1]}"#, #"[{"op":"add","path":"/foo/5","value":2}]"#),
        (#"{"foo":[1]}"#, #"[{"op":"replace","path":"/foo/01","value":2}]"#),
        (#"{"foo":"bar"}"#, #"[{"op":"frobnicate","path":"/foo"}]"#),
        (#"{"foo":"bar"}"#, #"{"op":"add"}"#),
        (#"{"foo":"bar"}"#, #"[{"op":"add","path":"foo","value":1}]"#),
        (#"{"a":{"b":1}}"#, #"[{"op":"move","from":"/a","path":"/a/c"}]"#),
        (#"{"a":{"b":1}}"#, #"[{"op":"copy","from":"","path":"/x"}]"#),
        (#"{"a":{"b":1}}"#, #"[{"op":"copy","from":"/a","path":"/a/c"}]"#),
    ])
    func badJSONPatchesAreErrors(original: String, patch: String) {
        #expect(throws: JSONPatchError.self) { try Self.json(original).jsonPatched(with: Self.json(patch)) }
    }

    @Test func patchBombsAreRefused() {
        // Each copy of the growing list into itself would double the document.
        let big = JSONValue.string(String(repeating: "x", count: 1 << 20))
        let copies = JSONValue.array((0..<8).map { i in ["op": "copy", "from": "/a", "path": .string("/c\(i)")] })
        #expect(throws: JSONPatchError.self, "more than 4 MiB copied") { try JSONValue.object(["a": big]).jsonPatched(with: copies) }
        let many = JSONValue.array(Array(repeating: ["op": "test", "path": "/a", "value": 1], count: JSONValue.maxJSONPatchOperations + 1))
        #expect(throws: JSONPatchError.self, "too many operations") { try JSONValue.object(["a": 1]).jsonPatched(with: many) }
    }

    @Test func strategicMergePatchMergesKeyedListsAndReplacesAtomicOnes() {
        let node = Self.json(#"{"metadata":{"labels":{"a":"1"}},"spec":{"taints":[{"key":"x","effect":"NoSchedule"}]},"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"MemoryPressure","status":"False"}]}}"#)
        // Conditions merge by type; a directive deletes one; labels merge as maps.
        let patch = Self.json(#"{"metadata":{"labels":{"b":"2"}},"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"MemoryPressure","$patch":"delete"},{"type":"DiskPressure","status":"False"}],"$setElementOrder/conditions":[{"type":"Ready"}]}}"#)
        #expect(node.strategicMergePatched(with: patch) ==
            Self.json(#"{"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"taints":[{"key":"x","effect":"NoSchedule"}]},"status":{"conditions":[{"type":"Ready","status":"True"},{"type":"DiskPressure","status":"False"}]}}"#))
        // Taints are atomic: kubectl taint sends the whole new list, and it replaces the old one.
        let taints = Self.json(#"{"spec":{"taints":[{"key":"y","effect":"NoExecute"}]},"metadata":{"labels":{"a":null}}}"#)
        #expect(node.strategicMergePatched(with: taints) ==
            Self.json(#"{"metadata":{"labels":{}},"spec":{"taints":[{"key":"y","effect":"NoExecute"}]},"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"MemoryPressure","status":"False"}]}}"#))
    }

    /// A generated object of string members, for properties of merge patches.
    static let flatObjects = Gen<Int>.value(in: 0...6).array(of: 0...6).map { keys in
        JSONValue.object(Dictionary(keys.map { ("k\($0)", JSONValue.string("v\($0)")) }, uniquingKeysWith: { a, _ in a }))
    }

    @Test func mergePatchProperties() async {
        await propertyCheck(count: 300, input: Self.flatObjects, Self.flatObjects) { a, b in
            #expect(a.mergePatched(with: .object([:])) == a, "an empty patch changes nothing")
            #expect(a.mergePatched(with: b).mergePatched(with: b) == a.mergePatched(with: b), "patches are idempotent")
            #expect(JSONValue.object([:]).mergePatched(with: b) == b, "null-free patches onto {} give the patch")
        }
    }

    @Test func serializationRoundTrips() throws {
        let text = #"{"a":[1,2.5,"x",true,null,{"b":{}}],"big":9007199254740993,"s":"ü/\"q\""}"#
        let value = Self.json(text)
        #expect(try JSONValue(parsing: Array(value.serialized().utf8)) == value)
        #expect(value["big"] == .int(9_007_199_254_740_993), "64-bit integers survive")
        #expect(throws: JSONValueError.self) { try JSONValue(parsing: Array("{".utf8)) }
    }
}
