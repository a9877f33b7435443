/// The JUnit XML schema CI systems read (Jenkins xunit-plugin `junit-10.xsd` / Ant layout), with
/// counts typed as integers. `junit.xml` must validate against it.
enum JUnitSchema {
    static let xsd = """
        <?xml version="1.0" encoding="UTF-8"?>
        <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified" attributeFormDefault="unqualified">
          <xs:element name="failure">
            <xs:complexType mixed="true">
              <xs:attribute name="type" type="xs:string" use="optional"/>
              <xs:attribute name="message" type="xs:string" use="optional"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="error">
            <xs:complexType mixed="true">
              <xs:attribute name="type" type="xs:string" use="optional"/>
              <xs:attribute name="message" type="xs:string" use="optional"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="skipped">
            <xs:complexType mixed="true">
              <xs:attribute name="type" type="xs:string" use="optional"/>
              <xs:attribute name="message" type="xs:string" use="optional"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="properties">
            <xs:complexType>
              <xs:sequence><xs:element ref="property" maxOccurs="unbounded"/></xs:sequence>
            </xs:complexType>
          </xs:element>
          <xs:element name="property">
            <xs:complexType>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="value" type="xs:string" use="required"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="system-err" type="xs:string"/>
          <xs:element name="system-out" type="xs:string"/>
          <xs:element name="testcase">
            <xs:complexType>
              <xs:sequence>
                <xs:element ref="skipped" minOccurs="0" maxOccurs="1"/>
                <xs:element ref="error" minOccurs="0" maxOccurs="unbounded"/>
                <xs:element ref="failure" minOccurs="0" maxOccurs="unbounded"/>
                <xs:element ref="system-out" minOccurs="0" maxOccurs="unbounded"/>
                <xs:element ref="system-err" minOccurs="0" maxOccurs="unbounded"/>
              </xs:sequence>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="assertions" type="xs:string" use="optional"/>
              <xs:attribute name="time" type="xs:decimal" use="optional"/>
              <xs:attribute name="classname" type="xs:string" use="optional"/>
              <xs:attribute name="status" type="xs:string" use="optional"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="testsuite">
            <xs:complexType>
              <xs:sequence>
                <xs:element ref="properties" minOccurs="0" maxOccurs="1"/>
                <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
                <xs:element ref="system-out" minOccurs="0" maxOccurs="1"/>
                <xs:element ref="system-err" minOccurs="0" maxOccurs="1"/>
              </xs:sequence>
              <xs:attribute name="name" type="xs:string" use="required"/>
              <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
              <xs:attribute name="failures" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="errors" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="time" type="xs:decimal" use="optional"/>
              <xs:attribute name="disabled" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="skipped" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="timestamp" type="xs:string" use="optional"/>
              <xs:attribute name="hostname" type="xs:string" use="optional"/>
              <xs:attribute name="id" type="xs:string" use="optional"/>
              <xs:attribute name="package" type="xs:string" use="optional"/>
            </xs:complexType>
          </xs:element>
          <xs:element name="testsuites">
            <xs:complexType>
              <xs:sequence><xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
              <xs:attribute name="name" type="xs:string" use="optional"/>
              <xs:attribute name="time" type="xs:decimal" use="optional"/>
              <xs:attribute name="tests" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="failures" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="disabled" type="xs:nonNegativeInteger" use="optional"/>
              <xs:attribute name="errors" type="xs:nonNegativeInteger" use="optional"/>
            </xs:complexType>
          </xs:element>
        </xs:schema>
        """
}
