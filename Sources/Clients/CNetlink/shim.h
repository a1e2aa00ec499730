// libnl-route-3 and libnl-nf-3 (Debian's libnl-route-3-dev, libnl-nf-3-dev): the parts vpcnet's
// host networking and IPAM use.
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/cache.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/rule.h>
#include <netlink/netfilter/ct.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

// setns(2) is a GNU extension that the Glibc module does not export: declared here.
extern int setns(int fd, int nstype);
static inline int vpcnet_enter_network_namespace(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }
