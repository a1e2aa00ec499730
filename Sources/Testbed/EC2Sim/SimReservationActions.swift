import VPCNetCore

/// Subnet CIDR reservations, which operators make (vpcnet's client never does): a `prefix`
/// reservation keeps aligned /28s free of the single addresses EC2 picks, so prefixes can be had
/// in a busy subnet.
enum SimReservationActions {
    static let handlers: [SimAction: SimHandler] = [
        .testbed(.createSubnetCidrReservation): { p, state, reply throws(SimError) in
            let reservation = try state.createCidrReservation(
                subnetID: p.required("SubnetId"), cidr: p.required("Cidr"), type: p.required("ReservationType"),
                description: p["Description"], tags: p.tagSpecifications(for: "subnet-cidr-reservation"))
            return SimOutcome(xml: reply.xml { w in
                w.open("subnetCidrReservation") { w in reservationXML(&w, reservation, owner: state.ownerID) }
            })
        },
        .testbed(.getSubnetCidrReservations): { p, state, reply throws(SimError) in
            let all = try state.cidrReservations(subnetID: p.required("SubnetId")).sorted { $0.id < $1.id }
            let owner = state.ownerID
            let filtered = try SimFilter.apply(p.filters(), to: all, fields: [
                "reservationType": { [$0.kind.rawValue] }, "subnet-id": { [$0.subnetID] }, "owner-id": { _ in [owner] },
            ], tags: \.tags)
            let (page, next) = try SimActions.paginate(filtered, p, explicitIDs: false, id: \.id)
            return SimOutcome(xml: reply.xml { w in
                w.list("subnetIpv4CidrReservationSet", page) { w, reservation in reservationXML(&w, reservation, owner: state.ownerID) }
                w.list("subnetIpv6CidrReservationSet", [SimCidrReservation]()) { _, _ in }
                w.element("nextToken", next)
            })
        },
        .testbed(.deleteSubnetCidrReservation): { p, state, reply throws(SimError) in
            let reservation = try state.deleteCidrReservation(id: p.required("SubnetCidrReservationId"))
            return SimOutcome(xml: reply.xml { w in
                w.open("deletedSubnetCidrReservation") { w in reservationXML(&w, reservation, owner: state.ownerID) }
            })
        },
    ]

    static func reservationXML(_ w: inout XMLWriter, _ reservation: SimCidrReservation, owner: String) {
        w.element("subnetCidrReservationId", reservation.id)
        w.element("subnetId", reservation.subnetID)
        w.element("cidr", reservation.cidr.description)
        w.element("reservationType", reservation.kind.rawValue)
        w.element("ownerId", owner)
        w.element("description", reservation.description)
        w.tags(reservation.tags)
    }
}
