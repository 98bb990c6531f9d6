package host

// DefaultNetstatFields is node_exporter's default selection of
// /proc/net/{netstat,snmp,snmp6} fields.
const DefaultNetstatFields = `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`

// NetstatConfig selects the fields reported.
type NetstatConfig struct {
	Fields string // regexp of Protocol_Field names to keep
}
