"""The generated part of the discovery corpus: devices the shared captures lack.

Each device sends what such a device is publicly documented or commonly seen to
send: its maker's MAC block (IEEE), the DHCP hostname its firmware sets (D-Link's
and TP-Link's model numbers, Brother's BRW+MAC, Epson's EPSON+MAC, Shelly's
`shellyplug-s-…`), the parameter request list of its DHCP client (busybox udhcpc,
ISC dhclient, dhcpcd, lwIP, Windows, Apple's, Android's), the SSDP device types
and SERVER strings of its UPnP stack (Belkin WeMo, Philips Hue, Roku, Sonos,
Samsung, AVM), the mDNS services and TXT keys of its Bonjour or IPP stack (Apple's
device-info, IPP Everywhere's ty/usb_MDL, Google Cast's md, Nanoleaf's md), LLDP
system descriptions of switches, EtherNet/IP and Modbus identities of PLCs.

None of it was taken from the tables the sensor matches (FingerBank, Satori, the
rules in nps_sensor.discovery): those tables were not open while this file was
written, and it was committed before the rules that read these devices were. What
each device is lives in truth.tsv, keyed by MAC.

Some devices carry no brand on the wire but their Wi-Fi module's MAC (Espressif,
Hi-flying): the right answer there is "module by X", never "brand X".
"""

from __future__ import annotations

from nps_sensor.synth.devices import Device, Notify, Service

UDHCPC = (
    1,
    3,
    6,
    12,
    15,
    28,
    42,
)  # busybox udhcpc's default request (subnet, router, dns, hostname, domain, broadcast, ntp)
DHCLIENT = (1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42)  # ISC dhclient as Debian/Ubuntu configure it
WINDOWS = (1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252)  # Windows 10/11
APPLE = (1, 121, 3, 6, 15, 119, 252)  # iOS and macOS
ANDROID = (1, 3, 6, 15, 26, 28, 51, 58, 59, 43)  # Android 10+
LWIP = (1, 3, 28, 6)  # lwIP (ESP8266/ESP32 SDKs)

UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)"
    " AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
UA_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X)"
    " AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
UA_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
UA_UBUNTU = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
UA_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
    " AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
)
UA_GALAXY = (
    "Mozilla/5.0 (Linux; Android 13; SM-G991B)"
    " AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36"
)
UA_PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7)"
    " AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
)
PORTABLE_SDK = "Linux/3.10.14, UPnP/1.0, Portable SDK for UPnP devices/1.6.18"

DEVICES: list[Device] = [
    # --- cameras
    Device(
        "b0:c5:54:3a:10:01",
        "DCS-935L",
        UDHCPC,
        "udhcp 1.19.4",
        ssdp=(
            Notify(PORTABLE_SDK, "urn:schemas-upnp-org:device:DCS-935L:1", "4d696e69-dcs9-35l0-0000-b0c5543a1001"),
            Notify(PORTABLE_SDK, "hnap:NetworkCamera", "4d696e69-dcs9-35l0-0000-b0c5543a1001"),
        ),
        syn="linux",
        listens=(554,),
    ),
    Device(
        "ac:cc:8e:12:34:56",
        "axis-accc8e123456",
        DHCLIENT,
        mdns=(Service("_axis-video._tcp", "AXIS M3045-V - ACCC8E123456", 80, ("macaddress=ACCC8E123456",)),),
        ssdp=(
            Notify(
                "Linux/4.14, UPnP/1.0, Portable SDK for UPnP devices/1.8.4",
                "urn:axis-com:service:BasicService:1",
                "Upnp-BasicDevice-1_0-ACCC8E123456",
            ),
        ),
        syn="linux",
        listens=(554,),
    ),
    Device("44:19:b6:6c:20:03", None, http_server="App-webs/", syn="linux", listens=(554, 8000)),
    # --- smart plugs
    Device("50:c7:bf:1d:30:01", "HS110(EU)", UDHCPC, syn="lwip", listens=(9999,)),
    Device(
        "94:10:3e:5a:30:02",
        "wemo",
        UDHCPC,
        ssdp=(
            Notify(
                "Unspecified, UPnP/1.0, Unspecified",
                "urn:Belkin:device:controllee:1",
                "Socket-1_0-221517K0101769",
                49153,
            ),
        ),
    ),
    Device(
        "c4:12:f5:0e:30:03",
        "DSP-W215",
        UDHCPC,
        mdns=(Service("_dhnap._tcp", "DSP-W215-30A3", 80, ("model_number=DSP-W215", "mydlink=true")),),
    ),
    Device(
        "e8:db:84:7c:87:ce",
        "shellyplug-s-7C87CE",
        LWIP,
        mdns=(Service("_http._tcp", "shellyplug-s-7C87CE", 80, ("id=shellyplug-s-7C87CE", "arch=esp8266")),),
        http_server="Mongoose/6.18",
    ),
    # --- hubs and gateways
    Device(
        "00:17:88:4b:40:01",
        "Philips-hue",
        UDHCPC,
        ssdp=(
            Notify(
                "Linux/3.14.0 UPnP/1.0 IpBridge/1.26.0", "upnp:rootdevice", "2f402f80-da50-11e1-9b23-0017884b4001", 80
            ),
        ),
        mdns=(Service("_hue._tcp", "Philips Hue - 4B4001", 443, ("bridgeid=001788fffe4b4001", "modelid=BSB002")),),
    ),
    Device("ac:cf:23:61:40:02", "HF-LPB100", LWIP),  # a gateway with a Hi-flying module: no brand on the wire
    Device("00:1a:22:0a:40:03", "homematic-ccu2", UDHCPC, http_server="lighttpd/1.4.45", syn="linux"),
    # --- lights and sensors
    Device(
        "00:55:da:52:50:01",
        "Nanoleaf-Light-Panels",
        LWIP,
        mdns=(
            Service("_nanoleafapi._tcp", "Light Panels 52:50:01", 16021, ("md=NL22", "srcvers=9.2.4", "id=52:50:01")),
        ),
    ),
    Device("b0:c5:54:3a:50:02", "DCH-S150", UDHCPC, syn="linux"),
    Device("b0:c5:54:3a:50:03", "DCH-S160", UDHCPC, dhcp_server=True),  # a water sensor, set up through its own AP
    Device("b0:c5:54:3a:50:04", "DCH-S220", UDHCPC),
    Device(
        "70:ee:50:2b:50:05",
        "Netatmo-Weather-Station",
        LWIP,
        user_agent="NetatmoWeatherStation/178",
        http_host="api.netatmo.net",
    ),
    # --- scale and appliances (Wi-Fi modules)
    Device("00:1d:c9:a1:60:01", None, user_agent="Withings UserAgent", http_host="scalews.withings.net", syn="lwip"),
    Device("5c:cf:7f:0a:1b:2c", "ESP_0A1B2C", LWIP, listens=(2081,)),  # a kettle on an ESP8266: no brand on the wire
    # --- printers
    Device(
        "3c:2a:f4:12:34:56",
        "BRW3C2AF4123456",
        UDHCPC,
        mdns=(
            Service(
                "_ipp._tcp",
                "Brother HL-L2350DW series",
                631,
                (
                    "ty=Brother HL-L2350DW series",
                    "usb_MFG=Brother",
                    "usb_MDL=HL-L2350DW series",
                    "product=(Brother HL-L2350DW series)",
                ),
            ),
        ),
        listens=(9100,),
    ),
    Device(
        "64:eb:8c:9a:bc:de",
        "EPSON9ABCDE",
        UDHCPC,
        mdns=(
            Service(
                "_ipp._tcp",
                "EPSON ET-2750 Series",
                631,
                ("ty=EPSON ET-2750 Series", "usb_MFG=EPSON", "usb_MDL=ET-2750 Series"),
            ),
        ),
    ),
    Device(
        "a0:d3:c1:44:55:66",
        "HPA0D3C1445566",
        UDHCPC,
        mdns=(
            Service(
                "_ipp._tcp",
                "HP OfficeJet Pro 8710 [445566]",
                631,
                ("ty=HP OfficeJet Pro 8710", "usb_MFG=HP", "usb_MDL=OfficeJet Pro 8710"),
            ),
        ),
        http_server="HP HTTP Server; HP OfficeJet Pro 8710 - D9L18A; Serial Number: CN12345678",
    ),
    # --- phones and tablets (private addresses: no vendor from the MAC)
    Device("5a:1c:3e:90:70:01", "Lucas-iPhone", APPLE, user_agent=UA_IPHONE, syn="apple", listens=(62078,)),
    Device("be:34:7a:10:70:02", "Galaxy-S21", ANDROID, "android-dhcp-13", user_agent=UA_GALAXY, syn="linux"),
    Device("d6:4e:11:22:70:03", "Pixel-7", ANDROID, "android-dhcp-14", user_agent=UA_PIXEL, syn="linux"),
    Device("6e:2b:55:10:70:04", "Annas-iPad", APPLE, user_agent=UA_IPAD, syn="apple"),
    # --- computers
    Device(
        "f0:18:98:3b:80:01",
        "Lucas-iMac",
        APPLE,
        user_agent=UA_MAC,
        syn="apple",
        mdns=(Service("_device-info._tcp", "Lucas-iMac", 0, ("model=iMac20,1", "osxvers=23")),),
    ),
    Device("54:e1:ad:7f:80:02", "DESKTOP-4F2K9QX", WINDOWS, "MSFT 5.0", user_agent=UA_WIN, syn="windows"),
    Device("2c:f0:5d:11:80:03", "dev-ubuntu", DHCLIENT, user_agent=UA_UBUNTU, syn="linux"),
    Device(
        "00:11:32:8c:80:04",
        "DiskStation",
        DHCLIENT,
        ssdp=(
            Notify(
                "Synology/DSM/192.168.77.49",
                "urn:schemas-upnp-org:device:Basic:1",
                "73796E6F-6C6F-6779-2044-0011328c8004",
                5000,
            ),
        ),
        mdns=(
            Service("_smb._tcp", "DiskStation", 445),
            Service("_device-info._tcp", "DiskStation", 0, ("model=Xserve",)),
        ),
        syn="linux",
        listens=(445, 5000),
    ),
    # --- network equipment
    Device("28:99:3a:4e:90:01", "switch-ztp", UDHCPC, "Arista"),
    Device(
        "28:99:3a:4e:90:02",
        None,
        lldp=(
            "leaf-2",
            "Arista Networks EOS version 4.28.3M running on an Arista Networks DCS-7050SX-64",
            "bridge,router",
        ),
    ),
    Device(
        "f4:b5:2f:10:90:03",
        None,
        lldp=(
            "access-3",
            "Juniper Networks, Inc. ex2300-c-12p Ethernet Switch, kernel JUNOS 20.4R3.8",
            "bridge,router",
        ),
    ),
    Device("78:8a:20:a1:90:04", "UAP-AC-Lite", UDHCPC, "ubnt", syn="linux"),
    Device(
        "38:10:d5:aa:90:05",
        None,
        ssdp=(
            Notify(
                "FRITZ!Box 7590 UPnP/1.0 AVM FRITZ!Box 7590 154.07.29",
                "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                "75802409-bccb-40e7-8e6c-3810d5aa9005",
                49000,
            ),
        ),
        listens=(53,),
    ),
    # --- industrial
    Device("00:1d:9c:c1:a0:01", None, enip=(1, 0x0E, 0x5B, "1769-L33ER/A LOGIX5333ER")),
    Device("00:80:f4:0b:a0:02", None, modbus=("Schneider Electric", "TM221CE16R", "v1.10")),
    # --- VoIP, TV and media
    Device("80:5e:c0:2d:b0:01", "SIP-T46S", UDHCPC, "yealink"),
    Device(
        "b0:a7:37:61:b0:02",
        None,
        UDHCPC,
        ssdp=(Notify("Roku/12.5.0 UPnP/1.0 Roku/12.5.0", "roku:ecp", "roku:ecp:X00400ABCDEF", 8060),),
    ),
    Device(
        "8c:79:f5:30:b0:03",
        "Samsung-TV",
        UDHCPC,
        ssdp=(
            Notify(
                "SHP, UPnP/1.0, Samsung UPnP SDK/1.0",
                "urn:samsung.com:device:RemoteControlReceiver:1",
                "0ee6b281-00fa-1000-bdb5-8c79f530b003",
                7676,
            ),
        ),
    ),
    Device(
        "f4:f5:d8:55:b0:04",
        None,
        UDHCPC,
        mdns=(
            Service(
                "_googlecast._tcp", "Chromecast-Ultra-5f2a", 8009, ("md=Chromecast Ultra", "fn=Living Room", "ve=05")
            ),
        ),
    ),
    Device(
        "48:a6:b8:21:b0:05",
        "SonosZP",
        UDHCPC,
        ssdp=(
            Notify(
                "Linux UPnP/1.0 Sonos/63.2-88230 (ZPS18)",
                "urn:schemas-upnp-org:device:ZonePlayer:1",
                "RINCON_48A6B821B00501400",
                1400,
            ),
        ),
    ),
]

# Written after the rules were frozen (the commit that added this list changed no rule,
# and none was changed for it afterwards): how the rules do on devices they were not
# written beside. Same sources as above; labels in truth.tsv under "generated-blind".
BLIND: list[Device] = [
    Device(
        "44:65:0d:3c:c1:01",
        "amazon-3cc101a2b",
        UDHCPC,
        user_agent="Dalvik/2.1.0 (Linux; U; Android 7.1.2; AEOBC Build/NS6294)",
        syn="linux",
    ),
    Device(
        "1c:f2:9a:44:c1:02",
        None,
        UDHCPC,
        mdns=(Service("_googlecast._tcp", "Google-Nest-Mini-5e1f", 8009, ("md=Google Nest Mini", "fn=Kitchen")),),
    ),
    Device(
        "c8:69:cd:11:c1:03",
        "Living-Room",
        APPLE,
        mdns=(Service("_airplay._tcp", "Living Room", 7000, ("model=AppleTV11,1", "osvers=17.1")),),
        syn="apple",
    ),
    Device(
        "a0:d3:c1:77:c1:04",
        "NPI77C104",
        UDHCPC,
        mdns=(
            Service(
                "_ipp._tcp",
                "HP LaserJet Pro M404-M405 [77C104]",
                631,
                ("ty=HP LaserJet Pro M404-M405", "usb_MFG=HP", "usb_MDL=LaserJet Pro M404-M405"),
            ),
        ),
        listens=(9100,),
    ),
    Device(
        "18:0c:ac:5a:c1:05",
        None,
        UDHCPC,
        mdns=(
            Service(
                "_ipp._tcp",
                "Canon TS8300 series",
                631,
                ("ty=Canon TS8300 series", "usb_MFG=Canon", "usb_MDL=TS8300 series"),
            ),
        ),
    ),
    Device(
        "78:11:dc:55:c1:06",
        "roborock-vacuum-s5_miio112233",
        LWIP,
        mdns=(Service("_miio._udp", "roborock-vacuum-s5_miio112233", 54321),),
    ),
    Device(
        "98:41:5c:0a:c1:07",
        "Switch",
        (1, 3, 6, 15, 28, 33),
        user_agent="Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko)"
        " NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393",
    ),
    Device(
        "de:7a:21:33:c1:08",
        "Galaxy-Tab-S7",
        ANDROID,
        "android-dhcp-12",
        user_agent="Mozilla/5.0 (Linux; Android 12; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/118.0.0.0 Safari/537.36",
    ),
    Device("d4:ae:52:8b:c1:09", "WIN-3K2J8H7G6F5", WINDOWS, "MSFT 5.0", syn="windows", listens=(445, 3389, 88)),
    Device("00:50:56:9a:c1:0a", None, http_server="Apache/2.4.52 (Ubuntu)", syn="linux", listens=(22, 80)),
    Device("00:e1:6d:8d:c1:0b", "SEP00E16D8DC10B", UDHCPC, "Cisco Systems, Inc. IP Phone CP-8845"),
    Device("48:8f:5a:3e:c1:0c", "MikroTik", UDHCPC, "MikroTik", http_server="MikroTik HttpProxy"),
    Device("00:c0:b7:4f:c1:0d", "apc4fc10d", UDHCPC, http_server="Allegro-Software-RomPager/4.01"),
    Device(
        "a8:23:fe:62:c1:0e",
        None,
        UDHCPC,
        ssdp=(
            Notify(
                "WebOS/4.1.0 UPnP/1.0 webOS/4.1.0",
                "urn:lge-com:service:webos-second-screen:1",
                "a8c1e9f2-1111-2222-3333-a823fe62c10e",
                1845,
            ),
        ),
    ),
    Device(
        "d8:f1:5b:21:c1:0f",
        "wlan0",
        LWIP,
    ),  # a Tuya bulb: the module's MAC block (Espressif) and the SDK's name
    Device(
        "74:c2:46:aa:c1:10",
        None,
        UDHCPC,
        user_agent="Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7633) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Silk/120.2.1 like Chrome/120.0.6099.230 Mobile Safari/537.36",
    ),
]
