import VPCNetCore

/// Subnet CIDR reservations, with the checks and messages EC2 (and moto, which agrees) gives.
extension SimState {
    mutating func createCidrReservation(subnetID: String, cidr text: String, type: String, description: String?,
                                        tags: [SimTag]) throws(SimError) -> SimCidrReservation {
        guard let kind = SimCidrReservation.Kind(rawValue: type) else {
            throw .invalid("Value (\(type)) for parameter reservationType is invalid.")
        }
        guard let cidr = try? IPv4CIDR(parsing: text) else {
            throw .invalid("Value (\(text)) for parameter cidrBlock is invalid. This is not a valid CIDR block.")
        }
        guard var subnet = subnets[subnetID] else { throw .notFound("InvalidSubnetID.NotFound", subnetID, "subnet") }
        guard subnet.cidr.contains(cidr) else {
            throw .invalid("Reservation CIDR should be within subnet CIDR block (\(subnet.cidr))")
        }
        guard !subnet.reservations.contains(where: { $0.cidr.overlaps(cidr) }) else {
            throw .invalid("Reservation CIDR \(cidr) has overlap with existing reserved CIDR block")
        }
        let reservation = SimCidrReservation(id: newID("scr"), subnetID: subnetID, cidr: cidr, kind: kind,
                                             description: description, tags: tags)
        subnet.reservations.append(reservation)
        subnets[subnetID] = subnet
        return reservation
    }

    func cidrReservations(subnetID: String) throws(SimError) -> [SimCidrReservation] {
        guard let subnet = subnets[subnetID] else { throw .notFound("InvalidSubnetID.NotFound", subnetID, "subnet") }
        return subnet.reservations
    }

    /// Addresses already taken from the range stay with their ENIs, as in EC2.
    mutating func deleteCidrReservation(id: String) throws(SimError) -> SimCidrReservation {
        guard let subnetID = subnets.first(where: { $0.value.reservations.contains { $0.id == id } })?.key,
              var subnet = subnets[subnetID], let index = subnet.reservations.firstIndex(where: { $0.id == id }) else {
            throw .notFound("InvalidSubnetCidrReservationID.NotFound", id, "subnet-cidr-reservation")
        }
        let reservation = subnet.reservations.remove(at: index)
        subnets[subnetID] = subnet
        return reservation
    }
}
